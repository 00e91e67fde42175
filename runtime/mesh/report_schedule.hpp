#pragma once

#include <chrono>
#include <cstddef>

#include "runtime/common/clock.hpp"
#include "runtime/mesh/circuit_breaker.hpp"

namespace valmesh {

/// When an event loop's gathered breaker outcomes go to the breakers. One
/// message per breaker per period instead of one per call: a message wakes
/// an actor thread. An outcome a breaker must judge soon (a failure, a slow
/// call, the answer to a trial call of a half-open breaker) goes within
/// `soon_period`, with the outcomes queued before it, in order; successes
/// alone wait up to `calm_period`, so a healthy service's breakers are
/// woken a hundred times a second per loop, not a thousand. A batch of
/// `max_batch` goes at once. Plain logic: the loop owns the timer and does
/// what `on_report` answers.
class report_schedule {
 public:
  static constexpr auto soon_period = std::chrono::milliseconds{1};
  static constexpr auto calm_period = std::chrono::milliseconds{10};
  static constexpr size_t max_batch = 256;

  /// Whether an outcome must reach its breaker within `soon_period`.
  static bool is_urgent(const breaker_options& o, breaker_state granted_in,
                        bool failed, std::chrono::microseconds took) {
    return failed || granted_in != breaker_state::closed ||
           (o.slow_call_threshold && took > *o.slow_call_threshold);
  }

  /// What the loop does after queueing an outcome: nothing (a flush that
  /// comes soon enough is planned), (re)arm its timer to flush after the
  /// given period (which replaces a later one), or flush at once.
  struct action {
    enum { none, arm, flush_now } what = none;
    clock::duration after{};
  };

  /// An outcome was queued; `pending` are queued in total.
  action on_report(size_t pending, bool urgent) {
    if (pending >= max_batch) {
      planned_ = plan::none;
      return {action::flush_now, {}};
    }
    auto wanted = urgent ? plan::soon : plan::calm;
    if (planned_ >= wanted) return {};
    planned_ = wanted;
    return {action::arm, urgent ? clock::duration{soon_period}
                                : clock::duration{calm_period}};
  }

  /// The planned flush ran (or the loop flushed for another reason).
  void on_flush() { planned_ = plan::none; }

 private:
  enum class plan { none, calm, soon };
  plan planned_ = plan::none;
};

}  // namespace valmesh
