#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/introspection.hpp"
#include "actors/protocol.hpp"
#include "actors/registry.hpp"
#include "runtime/cluster/membership.hpp"
#include "runtime/common/clock.hpp"
#include "runtime/metrics/metrics.hpp"

namespace valmesh {

/// The name of the cluster protocol, the middleman's application
/// identifier: a peer of another application, or of a valmesh that speaks
/// another protocol, is refused at the handshake. Raised whenever a message
/// of the cluster changes incompatibly.
inline constexpr const char* cluster_protocol = "valmesh-cluster/2";

/// The cluster actor of a node: membership (SWIM with Lifeguard's local
/// health, `runtime/cluster/membership.hpp`) and the outbound half of
/// replication (pushes and anti-entropy rounds). Other nodes reach it
/// through this node's gateway (`actors/cluster_gateway.hpp`), which is
/// what the cluster port publishes.
using cluster_actor = caf::typed_actor<
    inspectable,
    // -- from other nodes (through their gateways and ours) -------------------
    /// A node announces itself; answers every member this node knows.
    caf::replies_to<join_atom, member>::with<std::vector<member>>,
    /// Push-pull: merges the sender's member list, answers this node's.
    caf::replies_to<sync_atom, std::vector<member>>::with<std::vector<member>>,
    /// A direct probe from the named node; answers this node's incarnation.
    caf::replies_to<ping_atom, std::string>::with<uint64_t>,
    /// An indirect probe: probes the named member on the sender's behalf
    /// and answers whether it answered in time.
    caf::replies_to<ping_req_atom, std::string>::with<bool>,
    /// What the sender learned of members (one-way).
    caf::reacts_to<gossip_atom, std::vector<member>>,
    /// Answers this node's supervision tree as JSON (`GET /api/actors`).
    caf::replies_to<tree_atom>::with<std::string>,
    // -- from this node ---------------------------------------------------------
    /// Every known member, this node first.
    caf::replies_to<members_atom>::with<std::vector<member>>,
    /// Joins the cluster through the member at HOST:PORT; answers the
    /// members known once it answered.
    caf::replies_to<join_atom, std::string>::with<std::vector<member>>,
    /// Asks the named member for its supervision tree (JSON).
    caf::replies_to<tree_atom, std::string>::with<std::string>,
    /// Leaves the cluster: announces `left` to every member and answers
    /// once they heard it (or a short timeout passed).
    caf::replies_to<leave_atom>::with<bool>,
    /// Writes of this node to push to every member (one-way, batched).
    caf::reacts_to<push_atom, std::vector<catalog_entry>>,
    /// Internal: whether the address (of a connection under way) answered
    /// the reachability probe.
    caf::reacts_to<reach_atom, std::string, bool>,
    /// Internal: the end of the challenge with the gateway at the address
    /// (null when it failed).
    caf::reacts_to<auth_atom, std::string, caf::actor>,
    /// Internal timers: a probe round, a push-pull, an anti-entropy round.
    caf::reacts_to<tick_atom, uint64_t>>;

/// How a cluster actor is spawned.
struct cluster_options {
  std::shared_ptr<const clock> time;
  membership_options membership;
  /// This node as the cluster knows it (name, addresses, version, the
  /// incarnation it starts with).
  member self;
  /// Seeds to join on start (HOST:PORT); retried with backoff until one
  /// answers.
  std::vector<std::string> seeds;
  /// How long this node's writes wait to be pushed together: the first
  /// write after a push arms the timer, and every write taken until it
  /// fires rides in the same message to each member (a cost per message,
  /// not per write). At 0 (the default) the push leaves at the end of the
  /// mailbox: what queued up while the actor was busy rides along, and a
  /// write on an idle node waits for nothing.
  std::chrono::milliseconds push_delay{0};
  /// At most this many entries in one push message: a longer batch is
  /// split, and a full one leaves at once without waiting for the timer.
  size_t push_batch_max = 256;
  /// How often a full anti-entropy round runs with one member.
  std::chrono::milliseconds anti_entropy_interval{std::chrono::seconds{2}};
  /// The cluster's secret (`--cluster-secret`). When set, every gateway
  /// this node connects to must prove it knows it, and this node proves it
  /// in turn (`runtime/cluster/auth.hpp`), before anything else is sent.
  std::string secret;
  /// Connect through CAF's openssl module (TLS, peers verified against the
  /// CA) rather than the plain middleman.
  bool tls = false;
  /// Saves this node's incarnation (it must survive a restart, so that a
  /// refutation is never undone). Called from the actor; must be quick.
  std::function<void(uint64_t)> save_incarnation;
  /// The registry (writes of other nodes go to it).
  std::function<registry_actor()> registry;
  /// Publishes a member event (`member_joined`, ...) with its JSON data.
  std::function<void(std::string, std::string)> on_event;
  /// Called with the owner candidates (`membership::owner_candidates`:
  /// the alive members, or on the minority side of a partition every
  /// member not left; this node among them, sorted) on start and whenever
  /// they change: ownership of instances follows them.
  std::function<void(std::vector<std::string>)> on_owners;
  /// Finds out without blocking whether HOST:PORT accepts a TCP connection
  /// (calls back from another thread); asked before every middleman
  /// connect, so that an address that drops SYNs never stalls the
  /// middleman. Unset: the middleman connects straight away.
  std::function<void(std::string, uint16_t, std::function<void(bool)>)>
      reachable;
  /// Finds the gateway of the member at a cluster address, for tests that
  /// run several cluster actors in one process; unset: through this node's
  /// middleman (a real connection).
  std::function<caf::actor(const std::string&)> resolve;
  /// Builds this node's supervision tree as JSON and calls back.
  std::function<void(std::function<void(std::string)>)> tree;
  /// The state that survives a restart of the actor: the membership (so a
  /// restart keeps the node's place in the cluster). Owned by the node.
  std::shared_ptr<struct cluster_memory> memory;
  /// The node's metrics (members, replication, anti-entropy); may be null.
  std::shared_ptr<metrics> meter;
  /// Seeds the choice of members to probe (0: from the OS).
  uint64_t seed = 0;
  /// The gateways of other nodes are looked up through this node's
  /// middleman with this timeout.
  std::chrono::milliseconds connect_timeout{std::chrono::seconds{2}};
};

/// What a restart of the cluster actor keeps.
struct cluster_memory {
  std::unique_ptr<membership> view;
};

/// Spawns the cluster actor.
cluster_actor spawn_cluster(caf::actor_system& sys, cluster_options options);

/// The size of `xs` on the wire (CAF's binary serialisation), for metrics;
/// counted by walking the fields (nothing is serialised or allocated).
size_t wire_size(caf::actor_system& sys, const std::vector<catalog_entry>& xs);

/// Renders a member as `GET /api/cluster/members` shows it.
nlohmann::json to_json(const member& m);

}  // namespace valmesh
