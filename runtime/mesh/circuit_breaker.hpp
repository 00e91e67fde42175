#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "runtime/common/clock.hpp"

namespace valmesh {

/// The states of a circuit breaker (resilience4j's names).
enum class breaker_state : uint8_t { closed, open, half_open };

std::string_view to_string(breaker_state x) noexcept;

/// Options of one instance's breaker (config `policies.<service>`, whose
/// keys README.md lists under "The mesh").
///
/// | name                     | default | meaning                                            |
/// |--------------------------|---------|----------------------------------------------------|
/// | failure_rate_threshold   | 50      | % of failed calls in the window that opens it      |
/// | slow_call_rate_threshold | 100     | % of slow calls in the window that opens it        |
/// | slow_call_threshold      | none    | a call slower than this is slow (none: no call is) |
/// | window_size              | 20      | the last N calls are judged                        |
/// | minimum_calls            | 10      | no judgement before this many calls                |
/// | open_duration            | 30s     | how long it stays open                             |
/// | half_open_calls          | 3       | trial calls admitted when half-open                |
struct breaker_options {
  double failure_rate_threshold = 50.0;
  double slow_call_rate_threshold = 100.0;
  std::optional<clock::duration> slow_call_threshold;
  uint32_t window_size = 20;
  uint32_t minimum_calls = 10;
  clock::duration open_duration = std::chrono::seconds{30};
  uint32_t half_open_calls = 3;
};

/// A count-based circuit breaker, as resilience4j's: closed, it judges the
/// last `window_size` calls and opens when the failure rate (or the slow
/// rate) reaches its threshold; open, it rejects calls for `open_duration`;
/// then half-open, it admits `half_open_calls` trial calls and closes if
/// their failure rate stays under the threshold, or opens again.
/// Plain logic, one per instance, time from the caller.
class circuit_breaker {
 public:
  /// A state change, for events and the bulkhead.
  struct transition {
    breaker_state from;
    breaker_state to;
  };

  explicit circuit_breaker(breaker_options options = {});

  /// Asks to make a call at `now`. True means go, and the caller must later
  /// report it with `on_success`, `on_failure` or `on_cancel`. An open
  /// breaker whose time is up turns half-open here (see `last_transition`).
  bool try_acquire(clock::time_point now);

  /// Reports a call admitted by `try_acquire`.
  std::optional<transition> on_success(clock::duration took,
                                       clock::time_point now);
  std::optional<transition> on_failure(clock::duration took,
                                       clock::time_point now);

  /// Gives back a permit whose call never happened (cancelled, deadline
  /// passed before sending): it counts neither way.
  void on_cancel();

  /// The state as of `now` (an open breaker past its time reads half-open).
  breaker_state state(clock::time_point now) const;

  /// Turns an open breaker whose open duration has passed half-open (what
  /// `try_acquire` does on the way). For owners that admit calls elsewhere
  /// (the bulkhead) and move the breaker on a timer.
  std::optional<transition> advance(clock::time_point now);

  /// Turns an open breaker half-open now, whatever its time: the instance
  /// passed an active health check, so trial calls may test it.
  std::optional<transition> half_open_now(clock::time_point now);

  /// When an open breaker may turn half-open.
  clock::time_point open_until() const noexcept { return open_until_; }

  const breaker_options& options() const noexcept { return options_; }

  /// The transition `try_acquire` made, if any, since the last call of this.
  std::optional<transition> take_transition();

  /// Failure rate of the window in %, or nothing before `minimum_calls`.
  std::optional<double> failure_rate() const;

 private:
  std::optional<transition> record(bool failed, clock::duration took,
                                   clock::time_point now);
  std::optional<transition> move_to(breaker_state s, clock::time_point now);
  void reset_window();

  breaker_options options_;
  breaker_state state_ = breaker_state::closed;
  clock::time_point open_until_{};
  // Closed: a ring of the last window_size outcomes.
  std::vector<uint8_t> ring_;  ///< bit 0: failed, bit 1: slow
  size_t ring_pos_ = 0;
  uint32_t ring_count_ = 0;
  uint32_t failures_ = 0;
  uint32_t slow_ = 0;
  // Half-open: trial permits and their results.
  uint32_t trial_permits_ = 0;
  uint32_t trial_results_ = 0;
  uint32_t trial_failures_ = 0;
  std::optional<transition> pending_transition_;
};

}  // namespace valmesh
