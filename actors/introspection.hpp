#pragma once

// Actor introspection: what every actor says about itself when
// asked with `inspect_atom`, and the actor base class that counts the
// messages it handles.
//
// CAF 0.17 exposes a mailbox's size only inside the actor, and keeps no
// per-actor message counts (its actor profiler is compiled out of Debian's
// build), so every valmesh actor derives from `metered_actor` and answers
// `inspect_atom` itself with `figures()`. Callers ask with high priority, so
// a long mailbox does not delay the answer.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <caf/all.hpp>

namespace valmesh {

using inspect_atom = caf::atom_constant<caf::atom("inspect")>;
/// Fault injection: `(stall_atom, ms)` blocks the receiving actor for `ms`
/// milliseconds (at most 10 s), as a handler stuck on a slow call would.
/// Every metered actor understands it, whatever its interface.
using stall_atom = caf::atom_constant<caf::atom("stall")>;

struct actor_figures;

/// The signature every actor's interface includes: answers its figures.
using inspectable = caf::replies_to<inspect_atom>::with<actor_figures>;

/// The last abnormal exit of a child, as the tree shows it.
struct failure_note {
  std::string reason;
  int64_t at_ms = 0;  ///< Unix milliseconds
};

/// One child as its supervisor knows it.
struct child_entry {
  std::string name;   ///< stable path: "registry", "bulkhead/orders"
  std::string kind;   ///< "registry", "bulkhead", "supervisor", ...
  caf::actor handle;  ///< null while not running
  /// "running", "restarting" (exited, a restart is under way) or
  /// "stopped" (exited and not restarted).
  std::string state = "running";
  uint32_t restarts = 0;
  std::optional<failure_note> last_failure;
};

/// An actor's answer to `inspect_atom`. Node-local.
struct actor_figures {
  std::string kind;
  uint64_t id = 0;
  size_t mailbox_size = 0;
  uint64_t messages_handled = 0;
  int64_t uptime_ms = 0;
  /// Supervisors only: their rules and their children.
  bool supervisor = false;
  std::string strategy;
  uint32_t intensity = 0;
  int64_t period_ms = 0;
  std::vector<child_entry> children;
};

/// A stateful actor that counts the messages it handles (every mailbox
/// element it consumes: requests, responses, system messages) and knows
/// when it started. Spawn function-based actors with a pointer to it as
/// their first parameter: `metered_pointer<registry_actor, state>`.
template <class State, class Base = caf::event_based_actor>
class metered_actor : public caf::stateful_actor<State, Base> {
 public:
  using super = caf::stateful_actor<State, Base>;

  template <class... Ts>
  explicit metered_actor(caf::actor_config& cfg, Ts&&... xs)
      : super(cfg, std::forward<Ts>(xs)...) {}

  caf::invoke_message_result consume(caf::mailbox_element& x) override {
    ++handled_;
    auto& content = x.content();
    if (content.match_elements<stall_atom, uint32_t>()) {
      auto ms = std::min<uint32_t>(content.get_as<uint32_t>(1), 10'000);
      std::this_thread::sleep_for(std::chrono::milliseconds{ms});
      return caf::invoke_message_result::consumed;
    }
    return super::consume(x);
  }

  /// This actor's own figures (call from inside the actor only).
  actor_figures figures(std::string kind) {
    actor_figures f;
    f.kind = std::move(kind);
    f.id = this->id();
    f.mailbox_size = this->mailbox().size();
    f.messages_handled = handled_;
    f.uptime_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started_)
                      .count();
    return f;
  }

 private:
  uint64_t handled_ = 0;
  std::chrono::steady_clock::time_point started_ =
      std::chrono::steady_clock::now();
};

/// The pointer type of a metered, stateful implementation of `Handle`
/// (a `caf::typed_actor<...>`).
template <class Handle, class State>
using metered_pointer = metered_actor<State, typename Handle::base>*;

/// The same for a dynamically typed actor.
template <class State>
using metered_dynamic_pointer = metered_actor<State, caf::event_based_actor>*;

/// Unix milliseconds now (for failure notes).
inline int64_t unix_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
      .count();
}

}  // namespace valmesh

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(valmesh::actor_figures)
