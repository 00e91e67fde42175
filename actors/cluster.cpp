#include "actors/cluster.hpp"

namespace valmesh {

cluster_actor spawn_cluster(caf::actor_system& sys, node_info self_info) {
  return sys.spawn(
      [info = std::move(self_info)]() -> cluster_actor::behavior_type {
        return {
            [info](hello_atom) { return info; },
        };
      });
}

}  // namespace valmesh
