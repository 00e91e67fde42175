#include "runtime/health/check_schedule.hpp"

#include <map>

#include <gtest/gtest.h>

using namespace valmesh;
using namespace std::chrono_literals;

TEST(check_schedule, first_checks_spread_within_the_window) {
  manual_clock clk;
  check_schedule s{1};
  auto t0 = clk.now();
  for (int i = 0; i < 1000; ++i) s.add("i" + std::to_string(i), t0, 10s, 1s);
  // Nothing is due after the window closes that was not due within it, and
  // the checks are spread: no 100 ms slice holds more than a fifth of them.
  std::map<int64_t, int> per_slice;
  size_t total = 0;
  for (int step = 0; step <= 10; ++step) {
    for (auto& d : s.take_due(t0 + step * 100ms)) {
      EXPECT_LT(d.due, t0 + 1s);
      ++per_slice[(d.due - t0) / 100ms];
      ++total;
    }
  }
  EXPECT_EQ(total, 1000u);
  for (auto& [_, n] : per_slice) EXPECT_LT(n, 200);
}

TEST(check_schedule, checks_keep_their_phase) {
  manual_clock clk;
  check_schedule s{1};
  auto t0 = clk.now();
  s.add("a", t0, 1s, 0s);
  ASSERT_EQ(s.take_due(t0).size(), 1u);
  EXPECT_EQ(s.next_due(), t0 + 1s);
  // Taken 300 ms late: the next one is still on the original grid.
  auto late = s.take_due(t0 + 1300ms);
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0].due, t0 + 1s);
  EXPECT_EQ(s.next_due(), t0 + 2s);
}

TEST(check_schedule, far_behind_restarts_from_now) {
  manual_clock clk;
  check_schedule s{1};
  auto t0 = clk.now();
  s.add("a", t0, 1s, 0s);
  s.take_due(t0);
  auto behind = s.take_due(t0 + 5s);
  EXPECT_EQ(behind.size(), 1u);  // one check, not five
  EXPECT_EQ(s.next_due(), t0 + 6s);
}

TEST(check_schedule, removed_and_readded_entries) {
  manual_clock clk;
  check_schedule s{1};
  auto t0 = clk.now();
  s.add("a", t0, 1s, 0s);
  s.add("b", t0, 1s, 0s);
  s.remove("a");
  auto due = s.take_due(t0);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].id, "b");
  s.add("b", t0 + 500ms, 1s, 0s);  // re-timed: the old slot is dropped
  due = s.take_due(t0 + 1s);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].due, t0 + 500ms);
  EXPECT_EQ(s.size(), 1u);
  s.remove("b");
  EXPECT_FALSE(s.next_due());
}

TEST(event_log, ids_increase_and_the_backlog_is_bounded) {
  event_log log{3};
  for (int i = 0; i < 5; ++i) log.append("t", std::to_string(i));
  EXPECT_EQ(log.last_id(), 5u);
  EXPECT_EQ(log.size(), 3u);
  uint64_t missed = 0;
  auto all = log.since(0, missed);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all.front().id, 3u);
  EXPECT_EQ(missed, 2u);  // events 1 and 2 fell off
  auto tail = log.since(4, missed);
  ASSERT_EQ(tail.size(), 1u);
  EXPECT_EQ(tail[0].data, "4");
  EXPECT_EQ(missed, 0u);
  EXPECT_TRUE(log.since(5, missed).empty());
}
