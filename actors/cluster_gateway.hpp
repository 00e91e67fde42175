#pragma once

#include <functional>

#include <caf/all.hpp>

#include "actors/cluster.hpp"
#include "actors/registry.hpp"

namespace valmesh {

/// Where a cluster gateway finds the actors it hands messages to (their
/// current incarnations: a restart of either is invisible to other nodes).
struct gateway_targets {
  std::function<cluster_actor()> cluster;
  std::function<registry_actor()> registry;
  /// Counts the replicated writes that arrive (may be null).
  std::shared_ptr<metrics> meter;
  /// The cluster's secret; empty: every node that connects may talk.
  /// Otherwise a node must pass the challenge (`runtime/cluster/auth.hpp`)
  /// before any other message of it is handed on; until then requests are
  /// answered `forbidden` and one-way messages dropped.
  std::string secret;
};

/// Spawns the actor a node publishes on its cluster port: the one handle
/// other nodes hold. It keeps no state but the nodes that proved they know
/// the cluster's secret, and does no work: it hands each
/// message of the cluster protocol to the node's cluster actor
/// (membership, probes, introspection) or its registry (replicated writes,
/// digests, entries), which answer the sender directly. Because it never
/// restarts, other nodes keep a valid handle while the actors behind it
/// restart.
caf::actor spawn_cluster_gateway(caf::actor_system& sys,
                                 gateway_targets targets);

}  // namespace valmesh
