#include "runtime/mesh/report_schedule.hpp"

#include <gtest/gtest.h>

using namespace valmesh;
using namespace std::chrono_literals;

namespace {

using action = report_schedule::action;

bool arms(const action& a, clock::duration after) {
  return a.what == action::arm && a.after == after;
}

}  // namespace

TEST(report_schedule, successes_alone_wait_the_calm_period_armed_once) {
  report_schedule s;
  EXPECT_TRUE(arms(s.on_report(1, false), report_schedule::calm_period));
  for (size_t n = 2; n < 100; ++n)
    EXPECT_EQ(s.on_report(n, false).what, action::none) << n;
}

TEST(report_schedule, an_urgent_outcome_brings_a_calm_flush_forward_once) {
  report_schedule s;
  s.on_report(1, false);
  s.on_report(2, false);
  EXPECT_TRUE(arms(s.on_report(3, true), report_schedule::soon_period));
  EXPECT_EQ(s.on_report(4, true).what, action::none);
  EXPECT_EQ(s.on_report(5, false).what, action::none)
      << "a success never pushes a planned flush back";
}

TEST(report_schedule, after_a_flush_the_next_outcome_plans_anew) {
  report_schedule s;
  s.on_report(1, true);
  s.on_flush();
  EXPECT_TRUE(arms(s.on_report(1, false), report_schedule::calm_period));
  s.on_flush();
  EXPECT_TRUE(arms(s.on_report(1, true), report_schedule::soon_period));
}

TEST(report_schedule, a_full_batch_goes_at_once_and_clears_the_plan) {
  report_schedule s;
  s.on_report(1, true);
  EXPECT_EQ(s.on_report(report_schedule::max_batch, false).what,
            action::flush_now);
  EXPECT_TRUE(arms(s.on_report(1, false), report_schedule::calm_period));
}

TEST(report_schedule, failures_slow_calls_and_trial_answers_are_urgent) {
  breaker_options o;
  auto closed = breaker_state::closed;
  EXPECT_FALSE(report_schedule::is_urgent(o, closed, false, 5s))
      << "no slow-call threshold: no call is slow";
  EXPECT_TRUE(report_schedule::is_urgent(o, closed, true, 1ms));
  EXPECT_TRUE(
      report_schedule::is_urgent(o, breaker_state::half_open, false, 1ms));
  o.slow_call_threshold = 100ms;
  EXPECT_FALSE(report_schedule::is_urgent(o, closed, false, 100ms));
  EXPECT_TRUE(report_schedule::is_urgent(o, closed, false, 101ms));
}
