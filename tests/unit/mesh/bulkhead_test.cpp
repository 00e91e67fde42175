#include "runtime/mesh/bulkhead.hpp"

#include <gtest/gtest.h>

using namespace valmesh;
using namespace std::chrono_literals;

TEST(bulkhead, grants_up_to_the_limit_then_queues_then_rejects) {
  manual_clock clk;
  bulkhead b{{2, 2, 1s}};
  EXPECT_EQ(b.acquire(1, clk.now()), bulkhead::decision::granted);
  EXPECT_EQ(b.acquire(2, clk.now()), bulkhead::decision::granted);
  EXPECT_EQ(b.acquire(3, clk.now()), bulkhead::decision::queued);
  EXPECT_EQ(b.acquire(4, clk.now()), bulkhead::decision::queued);
  EXPECT_EQ(b.acquire(5, clk.now()), bulkhead::decision::rejected);
  EXPECT_EQ(b.in_flight(), 2u);
  EXPECT_EQ(b.queued(), 2u);
}

TEST(bulkhead, a_release_hands_the_permit_to_the_oldest_waiter) {
  manual_clock clk;
  bulkhead b{{1, 4, 1s}};
  b.acquire(1, clk.now());
  b.acquire(2, clk.now());
  b.acquire(3, clk.now());
  EXPECT_EQ(b.release(), 2u);
  EXPECT_EQ(b.in_flight(), 1u);
  EXPECT_EQ(b.release(), 3u);
  EXPECT_FALSE(b.release());
  EXPECT_EQ(b.in_flight(), 0u);
  EXPECT_FALSE(b.release());  // nothing to give back: no underflow
  EXPECT_EQ(b.in_flight(), 0u);
}

TEST(bulkhead, waiters_time_out_oldest_first) {
  manual_clock clk;
  bulkhead b{{1, 4, 1s}};
  b.acquire(1, clk.now());
  b.acquire(2, clk.now());
  clk.advance(500ms);
  b.acquire(3, clk.now());
  EXPECT_EQ(b.next_timeout(), clk.now() + 500ms);
  clk.advance(500ms);
  EXPECT_EQ(b.expire(clk.now()), (std::vector<bulkhead::ticket>{2}));
  clk.advance(500ms);
  EXPECT_EQ(b.expire(clk.now()), (std::vector<bulkhead::ticket>{3}));
  EXPECT_FALSE(b.next_timeout());
  EXPECT_EQ(b.in_flight(), 1u);
}

TEST(bulkhead, a_new_call_never_overtakes_a_waiter) {
  manual_clock clk;
  bulkhead b{{1, 4, 1s}};
  b.acquire(1, clk.now());
  b.acquire(2, clk.now());
  EXPECT_EQ(b.release(), 2u);
  EXPECT_EQ(b.acquire(3, clk.now()), bulkhead::decision::queued);
}

TEST(bulkhead, cancelled_waiters_leave_the_queue) {
  manual_clock clk;
  bulkhead b{{1, 4, 1s}};
  b.acquire(1, clk.now());
  b.acquire(2, clk.now());
  b.acquire(3, clk.now());
  EXPECT_TRUE(b.cancel(2));
  EXPECT_FALSE(b.cancel(2));
  EXPECT_EQ(b.release(), 3u);
}
