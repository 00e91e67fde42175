#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <caf/all.hpp>

#include "actors/introspection.hpp"

#include "actors/protocol.hpp"
#include "runtime/mesh/circuit_breaker.hpp"
#include "runtime/common/clock.hpp"

namespace valmesh {

/// `breaker/<instance>`: the circuit breaker of one instance. Callers send
/// it the outcome of every call (one-way); it pushes its transitions to its
/// service's bulkhead, which admits calls by them, and publishes
/// them as `breaker_changed` events.
/// The outcome of one call. Node-local.
struct breaker_outcome {
  uint64_t generation = 0;  ///< the breaker generation it was granted at
  bool failed = false;
  int64_t latency_us = 0;
};

using breaker_actor =
    caf::typed_actor<inspectable,
                     /// Outcomes of calls, in a batch (callers gather them per
                     /// event loop).
                     caf::reacts_to<outcome_atom, std::vector<breaker_outcome>>,
                     /// Internal: the open duration of `generation` has passed.
                     caf::reacts_to<advance_atom, uint64_t>,
                     /// The instance passed an active health check: an open
                     /// breaker turns half-open at once.
                     caf::reacts_to<checked_atom>,
                     /// Answers the current state.
                     caf::replies_to<get_atom>::with<breaker_update>>;

/// What a breaker needs.
struct breaker_actor_options {
  std::string service;
  std::string id;
  breaker_options breaker;
  /// The first generation: above any a predecessor used, so the bulkhead
  /// can tell a restarted breaker's states from stragglers.
  uint64_t generation = 0;
  std::shared_ptr<const clock> time;
  /// Called with each transition (the node sends it to the bulkhead and the
  /// events hub).
  std::function<void(const breaker_update&, breaker_state from)> on_transition;
};

breaker_actor spawn_breaker(caf::actor_system& sys,
                            breaker_actor_options options);

}  // namespace valmesh

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<valmesh::breaker_outcome>)
