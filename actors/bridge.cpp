#include "actors/bridge.hpp"

namespace valmesh {

namespace {

caf::behavior bridge_impl(caf::event_based_actor* self) {
  return {
      [self](bridge_job& job) { job(self); },
  };
}

}  // namespace

caf::actor spawn_bridge(caf::actor_system& sys) {
  return sys.spawn(bridge_impl);
}

}  // namespace valmesh
