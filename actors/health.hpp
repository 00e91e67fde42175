#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/introspection.hpp"

#include "actors/events.hpp"
#include "actors/health_checker.hpp"
#include "actors/protocol.hpp"
#include "actors/registry.hpp"
#include "runtime/config/config.hpp"

namespace valmesh {

/// `health_supervisor`: keeps one `health_checker/<service>` per service
/// with instances, spawned and stopped as the registry changes, and
/// restarts a checker that fails (rebuilding it from the registry). It also
/// runs the `health_aggregator` as a child.
using health_supervisor_actor = caf::typed_actor<
    inspectable,
    /// Changes in the catalog, in order (the registry's `on_change`).
    caf::reacts_to<changed_atom, std::vector<catalog_change>>,
    /// Answers every checked instance's figures, from all checkers.
    caf::replies_to<stats_atom>::with<std::vector<instance_check_view>>,
    /// Internal: rebuilds every checker from a registry snapshot.
    caf::reacts_to<resync_atom>>;

/// `health_aggregator`: rolls instance health up to services and overall,
/// and publishes `service_health_changed` and `overall_changed`.
using health_aggregator_actor =
    caf::typed_actor<inspectable,
                     caf::reacts_to<changed_atom, std::vector<catalog_change>>,
                     /// Answers the roll-up.
                     caf::replies_to<get_atom>::with<health_view>,
                     /// Internal: a full recompute from a registry snapshot
                     /// (start, and every `interval` as a safety net).
                     caf::reacts_to<resync_atom>>;

/// What both need to know.
struct health_options {
  health_config health;  ///< defaults and per-service overrides
  std::shared_ptr<const clock> time;
  std::shared_ptr<prober> probe;
  std::function<registry_actor()> registry;
  /// Passed on to each checker (`checker_options::on_passed`).
  std::function<void(const std::string&, std::vector<std::string>)> on_passed;
  std::function<events_actor()> events;
  /// Passed on to each checker (`checker_options::meter`). Optional.
  std::shared_ptr<metrics> meter;
  /// Called with each (re)started aggregator, to publish its handle.
  std::function<void(const health_aggregator_actor&)> on_aggregator;
  /// Which instances this node checks (unset: all). In a cluster, each
  /// instance is checked by the node that judges it.
  std::function<bool(const service_instance&)> judges;
  /// Restart intensity of the supervisor's children; past it the
  /// supervisor exits and node_supervisor restarts it.
  uint32_t intensity = 10;
  std::chrono::milliseconds period{std::chrono::seconds{10}};
};

health_supervisor_actor spawn_health_supervisor(caf::actor_system& sys,
                                                health_options options);

health_aggregator_actor spawn_health_aggregator(caf::actor_system& sys,
                                                health_options options);

}  // namespace valmesh
