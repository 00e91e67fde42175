#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/introspection.hpp"

namespace valmesh {

/// One actor of the supervision tree, as `GET /api/actors` shows it.
struct actor_tree_node {
  std::string name;  ///< stable path: "registry", "breaker/orders-1a2b"
  /// running | restarting | stopped | unresponsive
  std::string state = "running";
  uint32_t restarts = 0;  ///< from its supervisor
  std::optional<failure_note> last_failure;
  /// What the actor said of itself (its `children` moved to the field
  /// below); only the kind and id when it did not answer.
  actor_figures figures;
  std::vector<actor_tree_node> children;
  caf::actor handle;  ///< null when not running (for fault injection)
};

/// Called once with the whole tree.
using tree_fn = std::function<void(actor_tree_node)>;

/// Walks the tree under `root` (named `root_name`): asks every actor for
/// its figures with high priority, supervisors for their children too,
/// and calls `done` when all answered or `timeout` passed, whichever comes
/// first. An actor that did not answer in time is `unresponsive` (and its
/// children unknown); the walk itself never waits longer than `timeout`.
/// Runs in a short-lived actor spawned from `sys`.
void inspect_tree(caf::actor_system& sys, caf::actor root,
                  std::string root_name, std::chrono::milliseconds timeout,
                  tree_fn done);

/// Finds the actor named `name` in `tree` (depth first); null if absent.
const actor_tree_node* find_actor(const actor_tree_node& tree,
                                  const std::string& name);

}  // namespace valmesh
