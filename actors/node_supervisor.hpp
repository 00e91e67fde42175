#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/introspection.hpp"
#include "runtime/supervision/supervision.hpp"

namespace valmesh {

/// How a supervisor starts and restarts one child (OTP's child_spec).
struct child_spec {
  std::string id;    ///< stable name in the tree, e.g. "registry"
  std::string kind;  ///< what it is, for introspection ("registry", ...)
  /// Spawns the child and returns its handle; called again on restart.
  std::function<caf::actor(caf::actor_system&)> start;
  restart_type restart = restart_type::permanent;
  /// How long a stop waits for the child to exit before killing it; 0 kills
  /// at once (OTP's `brutal_kill`). Children stop one at a time, youngest
  /// first.
  std::chrono::milliseconds shutdown{std::chrono::seconds{5}};
};

/// Options of a supervisor.
///
/// | name      | default      | meaning                                  |
/// |-----------|--------------|------------------------------------------|
/// | strategy  | one_for_one  | which children a failure restarts        |
/// | intensity | 5            | restarts allowed within `period`         |
/// | period    | 10s          | the window of `intensity`                |
struct supervisor_options {
  restart_strategy strategy = restart_strategy::one_for_one;
  uint32_t intensity = 5;
  std::chrono::milliseconds period{std::chrono::seconds{10}};
  std::shared_ptr<const clock> time;
};

/// Spawns a supervisor that starts `children` in order, watches them, and
/// restarts a child that exits as its `restart_type` and the strategy say
/// (`supervisor_policy`). Exceeding the intensity makes the supervisor stop
/// every child and exit with the child's reason (escalation). Exiting it
/// (e.g. `user_shutdown`) stops every child, youngest first.
///
/// It answers `inspect_atom` (introspection, high priority) with its own
/// figures and its children's entries.
caf::actor spawn_supervisor(caf::actor_system& sys, std::string name,
                            supervisor_options options,
                            std::vector<child_spec> children);

}  // namespace valmesh
