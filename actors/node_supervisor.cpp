#include "actors/node_supervisor.hpp"

#include <spdlog/spdlog.h>

#include "actors/protocol.hpp"

namespace valmesh {

namespace {

struct child_state {
  child_spec spec;
  caf::actor handle;
  uint32_t restarts = 0;
  bool stopped = false;  ///< exited and not restarted
  std::optional<failure_note> last_failure;
};

/// Internal: a child being stopped did not exit within its `shutdown`.
using stop_timeout_atom = caf::atom_constant<caf::atom("stoptimeo")>;

struct supervisor_state {
  static inline const char* name = "supervisor";
  std::string label;
  supervisor_options options;
  std::unique_ptr<supervisor_policy> policy;
  std::vector<child_state> children;
  /// Shutting down: children are stopped one at a time, youngest first,
  /// each awaited (OTP's order), then the supervisor exits with this.
  std::optional<caf::error> stopping;
};

using supervisor_pointer = metered_dynamic_pointer<supervisor_state>;

void stop_child(supervisor_pointer self, child_state& c,
                const caf::error& reason) {
  if (!c.handle) return;
  self->demonitor(c.handle);
  self->send_exit(c.handle, reason);
  c.handle = nullptr;
}

/// Stops the youngest running child and waits for its exit (`on_child_down`
/// calls this again); with none left, exits with the stop reason.
void stop_next(supervisor_pointer self) {
  auto& xs = self->state.children;
  for (auto i = xs.rbegin(); i != xs.rend(); ++i) {
    if (!i->handle) continue;
    auto& c = *i;
    if (c.spec.shutdown.count() == 0) {
      self->send_exit(c.handle, caf::exit_reason::kill);  // brutal_kill
    } else {
      self->send_exit(c.handle, caf::exit_reason::user_shutdown);
      self->delayed_send(self, c.spec.shutdown, stop_timeout_atom::value,
                         c.handle.id());
    }
    return;
  }
  self->quit(*self->state.stopping);
}

/// Begins the ordered stop (a shutdown, or an escalation).
void begin_stop(supervisor_pointer self, caf::error reason) {
  if (self->state.stopping) return;
  self->state.stopping = std::move(reason);
  stop_next(self);
}

void start_child(supervisor_pointer self, child_state& c) {
  c.handle = c.spec.start(self->system());
  c.stopped = false;
  self->monitor(c.handle);
}

void on_child_down(supervisor_pointer self, caf::down_msg& msg) {
  auto& st = self->state;
  size_t index = st.children.size();
  for (size_t i = 0; i < st.children.size(); ++i)
    if (st.children[i].handle && st.children[i].handle.address() == msg.source)
      index = i;
  if (index == st.children.size()) return;  // a stopped child's late news
  auto& child = st.children[index];
  child.handle = nullptr;
  if (st.stopping) {
    child.stopped = true;
    return stop_next(self);
  }
  bool abnormal = msg.reason && msg.reason != caf::exit_reason::normal;
  auto reason = self->system().render(msg.reason);
  if (abnormal) child.last_failure = failure_note{reason, unix_now_ms()};
  std::vector<restart_type> types;
  std::vector<bool> running;
  for (auto& c : st.children) {
    types.push_back(c.spec.restart);
    running.push_back(c.handle != nullptr);
  }
  auto d = st.policy->on_exit(index, types, running, abnormal,
                              st.options.time->now());
  using action = supervision_decision::action;
  switch (d.what) {
    case action::forget:
      child.stopped = true;
      spdlog::info("{}: {} exited ({}), not restarted", st.label, child.spec.id,
                   reason);
      return;
    case action::escalate:
      spdlog::error("{}: {} failed more than {} times in {}ms; escalating",
                    st.label, child.spec.id, st.policy->intensity(),
                    st.options.period.count());
      begin_stop(self, msg.reason);
      return;
    case action::restart:
      break;
  }
  spdlog::warn("{}: restarting {} after {} ({})", st.label, child.spec.id,
               reason, to_string(st.options.strategy));
  for (auto i : d.stop)
    stop_child(self, st.children[i], caf::exit_reason::user_shutdown);
  for (auto& c : st.children)
    if (!c.handle) c.stopped = true;
  for (auto i : d.start) {
    ++st.children[i].restarts;
    start_child(self, st.children[i]);
  }
}

caf::behavior supervisor_impl(supervisor_pointer self, std::string name,
                              supervisor_options options,
                              std::vector<child_spec> children) {
  auto& st = self->state;
  st.label = std::move(name);
  st.policy = std::make_unique<supervisor_policy>(
      options.strategy, options.intensity, options.period);
  st.options = std::move(options);
  for (auto& spec : children) {
    child_state c;
    c.spec = std::move(spec);
    st.children.push_back(std::move(c));
  }
  for (auto& c : st.children) start_child(self, c);
  // An exit message (shutdown, or the parent giving up) stops the children,
  // youngest first, while the state is still alive, then the supervisor.
  self->set_exit_handler(
      [self](caf::exit_msg& msg) { begin_stop(self, std::move(msg.reason)); });
  self->set_down_handler(
      [self](caf::down_msg& msg) { on_child_down(self, msg); });
  return {
      [self](stop_timeout_atom, uint64_t id) {
        for (auto& c : self->state.children)
          if (c.handle && c.handle.id() == id) {
            spdlog::warn("{}: {} did not stop within {}ms; killing it",
                         self->state.label, c.spec.id, c.spec.shutdown.count());
            self->send_exit(c.handle, caf::exit_reason::kill);
          }
      },
      // Answers "id restarts" for each child, in start order.
      [self](list_atom) {
        std::vector<std::string> result;
        for (auto& c : self->state.children)
          result.push_back(c.spec.id + " " + std::to_string(c.restarts));
        return result;
      },
      [self](inspect_atom) {
        auto& st = self->state;
        auto f = self->figures("supervisor");
        f.supervisor = true;
        f.strategy = std::string{to_string(st.options.strategy)};
        f.intensity = st.options.intensity;
        f.period_ms = st.options.period.count();
        for (auto& c : st.children)
          f.children.push_back({c.spec.id, c.spec.kind, c.handle,
                                c.handle    ? "running"
                                : c.stopped ? "stopped"
                                            : "restarting",
                                c.restarts, c.last_failure});
        return f;
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
