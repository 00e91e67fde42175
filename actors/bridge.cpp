#include "actors/bridge.hpp"

#include "actors/introspection.hpp"

namespace valmesh {

namespace {

struct bridge_state {
  static inline const char* name = "bridge";
};

caf::behavior bridge_impl(metered_dynamic_pointer<bridge_state> self) {
  return {
      [self](inspect_atom) { return self->figures("bridge"); },
      [self](bridge_job& job) { job(self); },
  };
}

}  // namespace

caf::actor spawn_bridge(caf::actor_system& sys) {
  return sys.spawn(bridge_impl);
}

}  // namespace valmesh
