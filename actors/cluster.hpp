#pragma once

#include <caf/all.hpp>

#include "actors/protocol.hpp"

namespace valmesh {

/// The actor this node publishes on its cluster (CAF middleman) port. For
/// now it introduces the node to whoever connects; membership and
/// replication grow here.
using cluster_actor =
    caf::typed_actor<caf::replies_to<hello_atom>::with<node_info>>;

/// Spawns the cluster actor of a node described by `self_info`.
cluster_actor spawn_cluster(caf::actor_system& sys, node_info self_info);

}  // namespace valmesh
