#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/introspection.hpp"
#include "runtime/metrics/metrics.hpp"

#include "actors/protocol.hpp"
#include "actors/registry.hpp"
#include "runtime/health/prober.hpp"
#include "runtime/common/clock.hpp"

namespace valmesh {

/// Checks the instances of one service (`health_checker/<service>`).
using health_checker_actor = caf::typed_actor<
    inspectable,
    /// Starts (or re-times) checking an instance; the first check comes soon.
    caf::reacts_to<watch_atom, service_instance>,
    /// Stops checking instance `id`.
    caf::reacts_to<unwatch_atom, std::string>,
    /// Internal: runs the checks that are due (a timer sends it with its
    /// sequence number; only the latest timer counts).
    caf::reacts_to<tick_atom, uint64_t>,
    /// Internal: the prober's answer for (id, generation).
    caf::reacts_to<checked_atom, std::string, uint64_t, check_result>,
    /// Internal: sends the results gathered since the last flush.
    caf::reacts_to<flush_atom>,
    /// Answers the figures of every instance it checks.
    caf::replies_to<stats_atom>::with<std::vector<instance_check_view>>>;

/// How a checker checks.
///
/// | name            | default | meaning                                                              |
/// |-----------------|---------|----------------------------------------------------------------------|
/// | interval        | 30s     | between checks of one instance                                       |
/// | timeout         | 5s      | a slower check fails                                                 |
/// | first_spread    | 1s      | the first check comes within this                                    |
/// | report_interval | 250ms   | results go to the registry in batches this often                     |
/// | tick_quantum    | 10ms    | a tick runs every check due; the next comes this much later at least |
/// | thresholds      | 2 / 1   | failuresBeforeCritical / successBeforePassing                        |
struct checker_options {
  std::string service;
  std::chrono::milliseconds interval{std::chrono::seconds{30}};
  std::chrono::milliseconds timeout{std::chrono::seconds{5}};
  std::chrono::milliseconds first_spread{std::chrono::seconds{1}};
  std::chrono::milliseconds report_interval{250};
  std::chrono::milliseconds tick_quantum{10};
  health_thresholds thresholds;
  std::shared_ptr<const clock> time;
  std::shared_ptr<prober> probe;
  /// Where results go: the registry records status and lastCheck.
  std::function<registry_actor()> registry;
  /// Told, with each batch, the instances whose latest probe passed (the
  /// mesh half-opens their open breakers: Envoy's
  /// `successful_active_health_check_uneject_host`). Optional.
  std::function<void(const std::string& service,
                     std::vector<std::string> passed)>
      on_passed;
  uint64_t seed = 0;
  /// Counts each check and its duration (`GET /metrics`). Optional.
  std::shared_ptr<metrics> meter;
};

/// Spawns a checker; it checks nothing until told to `watch`.
health_checker_actor spawn_health_checker(caf::actor_system& sys,
                                          checker_options options);

}  // namespace valmesh
