#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "runtime/common/clock.hpp"
#include "runtime/common/error.hpp"
#include "runtime/config/config.hpp"
#include "runtime/mesh/bulkhead.hpp"
#include "runtime/mesh/circuit_breaker.hpp"
#include "runtime/registry/load_balancer.hpp"
#include "runtime/registry/service_instance.hpp"

namespace valmesh {

/// The call a permit was granted for: where to send it, and the breaker
/// generation it counts against (results of an older generation are
/// stragglers the breaker ignores).
struct pool_grant {
  std::string id;
  endpoint address;
  uint64_t generation = 0;
  /// The instance's breaker state when the permit was granted.
  breaker_state breaker = breaker_state::closed;
};

/// What a service's bulkhead knows and decides: the instances
/// with their health, the mirror of each breaker's state (pushed by the
/// breaker), the calls in flight per instance, and the permits with their
/// queue. It chooses an instance for each permitted call among the healthy
/// ones whose breaker admits a call. Plain logic: the bulkhead actor only
/// connects it to messages and a timer.
///
/// Healthy means passing or warning; while no instance is, instances not
/// checked yet (`unknown`) are used, so a service is callable right after
/// registration; critical instances never are.
class service_pool {
 public:
  using ticket = bulkhead::ticket;

  service_pool(bulkhead_options options, lb_strategy strategy, uint64_t seed);

  // -- membership (from the registry) -----------------------------------------

  /// Adds an instance or updates its address, weight and status. A new
  /// instance's breaker starts closed at `generation` (a restarted breaker
  /// starts above every generation its predecessor used).
  void upsert(const service_instance& x, uint64_t generation = 0);

  /// Updates the health of a known instance.
  void set_status(const std::string& id, health_status status);

  /// Removes an instance (its calls in flight finish and are released).
  void remove(const std::string& id);

  /// The breaker of `id` moved to `state` with `generation`; half-open
  /// admits `trials` calls. Older generations are ignored.
  void set_breaker(const std::string& id, breaker_state state,
                   uint64_t generation, uint32_t trials);

  // -- calls
  // -------------------------------------------------------------------

  /// What `acquire` decided: a grant, a place in the queue, or a failure
  /// (`bulkhead_full`, `no_healthy_instance`, `circuit_open`).
  struct decision {
    enum class kind : uint8_t { granted, queued, failed } what;
    std::optional<pool_grant> grant;
    std::optional<failure> error;
  };

  /// Asks for a permit and an instance, avoiding `exclude` (instances that
  /// failed this call already) unless nothing else is left.
  decision acquire(ticket t, std::vector<std::string> exclude,
                   clock::time_point now);

  /// A waiter's answer: a grant or a failure.
  using handoff = std::pair<ticket, expected<pool_grant>>;

  /// Ends a call granted on `id`. `unused` means it never reached the
  /// instance (a half-open trial comes back). Returns the waiters that got
  /// the freed permit: at most one grant, after any that found no instance.
  std::vector<handoff> release(const std::string& id, uint64_t generation,
                               bool unused);

  /// Answers the waiters whose queue timeout passed at `now`.
  std::vector<handoff> expire(clock::time_point now);

  /// When the next waiter times out, if any waits.
  std::optional<clock::time_point> next_timeout() const {
    return permits_.next_timeout();
  }

  // -- figures
  // ------------------------------------------------------------------

  struct member {
    std::string id;
    endpoint address;
    uint32_t weight = 1;
    health_status status = health_status::unknown;
    breaker_state breaker = breaker_state::closed;
    uint64_t generation = 0;
    uint32_t trials_left = 0;  ///< half-open: trial calls still to grant
    uint32_t in_flight = 0;
  };

  const std::vector<member>& members() const noexcept { return members_; }
  uint32_t in_flight() const noexcept { return permits_.in_flight(); }
  size_t queued() const noexcept { return permits_.queued(); }
  const bulkhead_options& options() const noexcept {
    return permits_.options();
  }

 private:
  member* find(const std::string& id);

  /// Chooses an instance for a permitted call, or says why none.
  expected<pool_grant> choose(const std::vector<std::string>& exclude);

  /// Passes a freed permit down the queue until a waiter can use it.
  void hand_down(std::optional<ticket> next, std::vector<handoff>& out);

  bulkhead permits_;
  lb_strategy strategy_;
  load_balancer balancer_;
  std::vector<member> members_;
  /// Where each member is in `members_`, by id: a service of thousands of
  /// instances changes one of them in constant time (every node's mesh
  /// follows every change of the cluster's catalog).
  std::unordered_map<std::string, size_t> index_;
  std::unordered_map<ticket, std::vector<std::string>> waiting_;
  std::vector<lb_candidate> candidates_;  ///< scratch, reused per choice
  std::vector<size_t> candidate_index_;   ///< into members_
};

}  // namespace valmesh
