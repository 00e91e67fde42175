#include "actors/node_supervisor.hpp"

#include <spdlog/spdlog.h>

#include "actors/protocol.hpp"

namespace valmesh {

namespace {

struct child_state {
  child_spec spec;
  caf::actor handle;
  uint32_t restarts = 0;
};

struct supervisor_state {
  static inline const char* name = "supervisor";
  std::string label;
  supervisor_options options;
  std::unique_ptr<restart_intensity> window;
  std::vector<child_state> children;
};

using supervisor_pointer = caf::stateful_actor<supervisor_state>*;

void stop_children(supervisor_pointer self, const caf::error& reason) {
  auto& xs = self->state.children;
  for (auto i = xs.rbegin(); i != xs.rend(); ++i) {
    if (!i->handle) continue;
    self->demonitor(i->handle);
    self->send_exit(i->handle, reason);
    i->handle = nullptr;
  }
}

void start_child(supervisor_pointer self, child_state& c) {
  c.handle = c.spec.start(self->system());
  self->monitor(c.handle);
}

caf::behavior supervisor_impl(supervisor_pointer self, std::string name,
                              supervisor_options options,
                              std::vector<child_spec> children) {
  auto& st = self->state;
  st.label = std::move(name);
  st.window =
      std::make_unique<restart_intensity>(options.intensity, options.period);
  st.options = std::move(options);
  for (auto& spec : children) st.children.push_back({std::move(spec), {}, 0});
  for (auto& c : st.children) start_child(self, c);
  // An exit message (shutdown, or the parent giving up) stops the children,
  // youngest first, while the state is still alive, then the supervisor.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    stop_children(self, msg.reason);
    self->quit(msg.reason);
  });
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    for (auto& c : st.children) {
      if (c.handle.address() != msg.source) continue;
      bool abnormal = msg.reason && msg.reason != caf::exit_reason::normal;
      c.handle = nullptr;
      if (!should_restart(c.spec.restart, abnormal)) return;
      if (!st.window->record(st.options.time->now())) {
        spdlog::error("{}: {} failed more than {} times in {}ms; escalating",
                      st.label, c.spec.id, st.options.intensity,
                      st.options.period.count());
        stop_children(self, msg.reason);
        self->quit(msg.reason);
        return;
      }
      ++c.restarts;
      spdlog::warn("{}: restarting {} after {}", st.label, c.spec.id,
                   self->system().render(msg.reason));
      start_child(self, c);
      return;
    }
  });
  return {
      // Answers "id restarts" for each child, in start order.
      [self](list_atom) {
        std::vector<std::string> result;
        for (auto& c : self->state.children)
          result.push_back(c.spec.id + " " + std::to_string(c.restarts));
        return result;
      },
  };
}

}  // namespace

caf::actor spawn_supervisor(caf::actor_system& sys, std::string name,
                            supervisor_options options,
                            std::vector<child_spec> children) {
  return sys.spawn(supervisor_impl, std::move(name), std::move(options),
                   std::move(children));
}

}  // namespace valmesh
