#include "runtime/mesh/circuit_breaker.hpp"

#include <gtest/gtest.h>

using namespace valmesh;
using namespace std::chrono_literals;

namespace {

breaker_options small() {
  breaker_options o;
  o.failure_rate_threshold = 50;
  o.window_size = 4;
  o.minimum_calls = 4;
  o.open_duration = 10s;
  o.half_open_calls = 2;
  return o;
}

}  // namespace

TEST(circuit_breaker, stays_closed_below_minimum_calls) {
  manual_clock clk;
  circuit_breaker b{small()};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(b.try_acquire(clk.now()));
    EXPECT_FALSE(b.on_failure(1ms, clk.now()));
  }
  EXPECT_EQ(b.state(clk.now()), breaker_state::closed);
  EXPECT_FALSE(b.failure_rate());
}

TEST(circuit_breaker, opens_at_the_failure_rate_threshold) {
  manual_clock clk;
  circuit_breaker b{small()};
  b.on_success(1ms, clk.now());
  b.on_success(1ms, clk.now());
  b.on_failure(1ms, clk.now());
  auto t = b.on_failure(1ms, clk.now());  // 2 of 4 = 50%
  ASSERT_TRUE(t);
  EXPECT_EQ(t->from, breaker_state::closed);
  EXPECT_EQ(t->to, breaker_state::open);
  EXPECT_FALSE(b.try_acquire(clk.now()));
}

TEST(circuit_breaker, the_window_slides) {
  manual_clock clk;
  circuit_breaker b{small()};
  b.on_failure(1ms, clk.now());
  for (int i = 0; i < 3; ++i) b.on_success(1ms, clk.now());  // 25%
  EXPECT_EQ(*b.failure_rate(), 25.0);
  b.on_success(1ms, clk.now());  // the failure leaves the window
  EXPECT_EQ(*b.failure_rate(), 0.0);
  EXPECT_FALSE(b.on_failure(1ms, clk.now()));  // 25% again
  EXPECT_TRUE(b.on_failure(1ms, clk.now()));   // 50%: open
}

TEST(circuit_breaker, half_open_after_the_open_duration_then_closes) {
  manual_clock clk;
  circuit_breaker b{small()};
  for (int i = 0; i < 4; ++i) b.on_failure(1ms, clk.now());
  ASSERT_EQ(b.state(clk.now()), breaker_state::open);
  clk.advance(9s);
  EXPECT_FALSE(b.try_acquire(clk.now()));
  clk.advance(1s);
  EXPECT_EQ(b.state(clk.now()), breaker_state::half_open);
  ASSERT_TRUE(b.try_acquire(clk.now()));
  auto t = b.take_transition();
  ASSERT_TRUE(t);
  EXPECT_EQ(t->to, breaker_state::half_open);
  ASSERT_TRUE(b.try_acquire(clk.now()));
  EXPECT_FALSE(b.try_acquire(clk.now()));  // only 2 trial calls
  EXPECT_FALSE(b.on_success(1ms, clk.now()));
  auto closed = b.on_success(1ms, clk.now());
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->to, breaker_state::closed);
  EXPECT_TRUE(b.try_acquire(clk.now()));
}

TEST(circuit_breaker, a_failing_trial_opens_it_again) {
  manual_clock clk;
  circuit_breaker b{small()};
  for (int i = 0; i < 4; ++i) b.on_failure(1ms, clk.now());
  clk.advance(10s);
  ASSERT_TRUE(b.try_acquire(clk.now()));
  ASSERT_TRUE(b.try_acquire(clk.now()));
  b.on_success(1ms, clk.now());
  auto t = b.on_failure(1ms, clk.now());  // 1 of 2 = 50%
  ASSERT_TRUE(t);
  EXPECT_EQ(t->to, breaker_state::open);
  clk.advance(9s);
  EXPECT_FALSE(b.try_acquire(clk.now()));  // a fresh open duration
}

TEST(circuit_breaker, cancelled_trials_give_their_permit_back) {
  manual_clock clk;
  circuit_breaker b{small()};
  for (int i = 0; i < 4; ++i) b.on_failure(1ms, clk.now());
  clk.advance(10s);
  ASSERT_TRUE(b.try_acquire(clk.now()));
  ASSERT_TRUE(b.try_acquire(clk.now()));
  EXPECT_FALSE(b.try_acquire(clk.now()));
  b.on_cancel();
  EXPECT_TRUE(b.try_acquire(clk.now()));
}

TEST(circuit_breaker, slow_calls_open_it_when_configured) {
  manual_clock clk;
  auto o = small();
  o.slow_call_threshold = 100ms;
  o.slow_call_rate_threshold = 75;
  circuit_breaker b{o};
  b.on_success(10ms, clk.now());
  b.on_success(200ms, clk.now());
  b.on_success(200ms, clk.now());
  EXPECT_FALSE(b.on_success(50ms, clk.now()));  // 2 of 4 slow: 50%
  EXPECT_TRUE(b.on_success(300ms, clk.now()));  // 3 of 4 slow: 75%
}

TEST(circuit_breaker, straggler_results_while_open_are_ignored) {
  manual_clock clk;
  circuit_breaker b{small()};
  for (int i = 0; i < 4; ++i) b.on_failure(1ms, clk.now());
  EXPECT_FALSE(b.on_success(1ms, clk.now()));
  EXPECT_EQ(b.state(clk.now()), breaker_state::open);
}

TEST(circuit_breaker, half_open_admits_only_its_trials_while_they_run) {
  manual_clock clk;
  circuit_breaker b{small()};
  for (int i = 0; i < 4; ++i) b.on_failure(1ms, clk.now());
  clk.advance(10s);
  // Many callers at once: exactly half_open_calls get through.
  int admitted = 0;
  for (int i = 0; i < 10; ++i) admitted += b.try_acquire(clk.now());
  EXPECT_EQ(admitted, 2);
  EXPECT_EQ(b.state(clk.now()), breaker_state::half_open);
  // One result is not enough to decide; still nobody else gets in.
  EXPECT_FALSE(b.on_success(1ms, clk.now()));
  EXPECT_FALSE(b.try_acquire(clk.now()));
  auto t = b.on_success(1ms, clk.now());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->to, breaker_state::closed);
  EXPECT_TRUE(b.try_acquire(clk.now()));
}

TEST(circuit_breaker, advance_turns_it_half_open_only_when_due) {
  manual_clock clk;
  circuit_breaker b{small()};
  EXPECT_FALSE(b.advance(clk.now())) << "closed stays closed";
  for (int i = 0; i < 4; ++i) b.on_failure(1ms, clk.now());
  EXPECT_EQ(b.open_until(), clk.now() + 10s);
  clk.advance(9s);
  EXPECT_FALSE(b.advance(clk.now()));
  clk.advance(1s);
  auto t = b.advance(clk.now());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->from, breaker_state::open);
  EXPECT_EQ(t->to, breaker_state::half_open);
  // The trials' results decide as with try_acquire.
  b.on_failure(1ms, clk.now());
  auto again = b.on_failure(1ms, clk.now());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->to, breaker_state::open);
}

TEST(circuit_breaker, half_open_now_skips_the_rest_of_the_open_duration) {
  manual_clock clk;
  circuit_breaker b{small()};
  EXPECT_FALSE(b.half_open_now(clk.now())) << "only an open breaker moves";
  for (int i = 0; i < 4; ++i) b.on_failure(1ms, clk.now());
  clk.advance(1s);  // 9 s of the open duration are left
  auto t = b.half_open_now(clk.now());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->to, breaker_state::half_open);
  EXPECT_EQ(b.state(clk.now()), breaker_state::half_open);
  EXPECT_FALSE(b.half_open_now(clk.now()));
}
