#pragma once

// What the health and mesh supervisors share: their children come and go
// with the registry (OTP's simple_one_for_one), and a failure is either a
// restart or, past the intensity, an escalation to node_supervisor.

#include <string>

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include "actors/introspection.hpp"
#include "runtime/common/clock.hpp"
#include "runtime/supervision/supervision.hpp"

namespace valmesh {

/// Records `child`'s failure in `s`. Returns true if it may be restarted;
/// otherwise calls `stop_all(reason)` and ends `self` with the child's
/// reason, so that its own supervisor restarts the whole subtree.
template <class Self, class StopAll>
bool restart_or_escalate(Self* self, dynamic_supervision& s, const char* label,
                         const std::string& child, const caf::down_msg& msg,
                         const clock& time, StopAll stop_all) {
  auto reason = self->system().render(msg.reason);
  if (s.on_failure(child, reason, time.now(), unix_now_ms())) {
    spdlog::warn("{}: restarting {} after {}", label, child, reason);
    return true;
  }
  spdlog::error("{}: {} failed more than {} times in {}ms; escalating", label,
                child, s.intensity(), s.period().count());
  stop_all(msg.reason);
  self->quit(msg.reason);
  return false;
}

/// A dynamic child's entry for introspection, with its history from `s`.
inline child_entry dynamic_child(const dynamic_supervision& s, std::string name,
                                 std::string kind, caf::actor handle) {
  child_entry e;
  e.name = std::move(name);
  e.kind = std::move(kind);
  e.state = handle ? "running" : "restarting";
  e.handle = std::move(handle);
  if (auto* h = s.find(e.name)) {
    e.restarts = h->restarts;
    if (!h->last_reason.empty())
      e.last_failure = failure_note{h->last_reason, h->last_failure_ms};
  }
  return e;
}

/// A supervisor's own figures with its rules (one_for_one over dynamic
/// children).
template <class Self>
actor_figures dynamic_supervisor_figures(Self* self,
                                         const dynamic_supervision& s) {
  auto f = self->figures("supervisor");
  f.supervisor = true;
  f.strategy = "one_for_one";
  f.intensity = s.intensity();
  f.period_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(s.period()).count();
  return f;
}

}  // namespace valmesh
