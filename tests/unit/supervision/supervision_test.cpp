#include "runtime/supervision/supervision.hpp"

#include <gtest/gtest.h>

using namespace valmesh;
using namespace std::chrono_literals;

TEST(supervision, restart_types_follow_otp) {
  EXPECT_TRUE(should_restart(restart_type::permanent, true));
  EXPECT_TRUE(should_restart(restart_type::permanent, false));
  EXPECT_TRUE(should_restart(restart_type::transient, true));
  EXPECT_FALSE(should_restart(restart_type::transient, false));
  EXPECT_FALSE(should_restart(restart_type::temporary, true));
  EXPECT_FALSE(should_restart(restart_type::temporary, false));
}

TEST(supervision, intensity_allows_n_restarts_per_period) {
  manual_clock clk;
  restart_intensity window{3, 10s};
  EXPECT_TRUE(window.record(clk.now()));
  EXPECT_TRUE(window.record(clk.now()));
  EXPECT_TRUE(window.record(clk.now()));
  EXPECT_FALSE(window.record(clk.now()));
}

TEST(supervision, old_restarts_leave_the_window) {
  manual_clock clk;
  restart_intensity window{2, 10s};
  EXPECT_TRUE(window.record(clk.now()));
  clk.advance(6s);
  EXPECT_TRUE(window.record(clk.now()));
  clk.advance(5s);  // the first is now 11s old
  EXPECT_TRUE(window.record(clk.now()));
  EXPECT_FALSE(window.record(clk.now()));
}

namespace {

using action = supervision_decision::action;
const std::vector<restart_type> three(3, restart_type::permanent);
const std::vector<bool> all_running(3, true);

}  // namespace

TEST(supervision, one_for_one_restarts_only_the_child) {
  manual_clock clk;
  supervisor_policy p{restart_strategy::one_for_one, 5, 10s};
  auto d = p.on_exit(1, three, all_running, true, clk.now());
  EXPECT_EQ(d.what, action::restart);
  EXPECT_TRUE(d.stop.empty());
  EXPECT_EQ(d.start, (std::vector<size_t>{1}));
}

TEST(supervision, one_for_all_stops_the_others_youngest_first_then_starts_all) {
  manual_clock clk;
  supervisor_policy p{restart_strategy::one_for_all, 5, 10s};
  auto d = p.on_exit(1, three, all_running, true, clk.now());
  EXPECT_EQ(d.what, action::restart);
  EXPECT_EQ(d.stop, (std::vector<size_t>{2, 0}));
  EXPECT_EQ(d.start, (std::vector<size_t>{0, 1, 2}));
}

TEST(supervision, rest_for_one_takes_down_the_younger_siblings) {
  manual_clock clk;
  supervisor_policy p{restart_strategy::rest_for_one, 5, 10s};
  std::vector<restart_type> four(4, restart_type::permanent);
  auto d = p.on_exit(1, four, std::vector<bool>(4, true), true, clk.now());
  EXPECT_EQ(d.what, action::restart);
  EXPECT_EQ(d.stop, (std::vector<size_t>{3, 2}));
  EXPECT_EQ(d.start, (std::vector<size_t>{1, 2, 3}));
  // The youngest child exiting restarts only itself.
  d = p.on_exit(3, four, std::vector<bool>(4, true), true, clk.now());
  EXPECT_TRUE(d.stop.empty());
  EXPECT_EQ(d.start, (std::vector<size_t>{3}));
}

TEST(supervision, siblings_that_are_stopped_or_temporary_stay_down) {
  manual_clock clk;
  supervisor_policy p{restart_strategy::one_for_all, 5, 10s};
  std::vector<restart_type> types{restart_type::temporary,
                                  restart_type::permanent,
                                  restart_type::permanent};
  std::vector<bool> running{true, true, false};
  auto d = p.on_exit(1, types, running, true, clk.now());
  EXPECT_EQ(d.stop, (std::vector<size_t>{0}));   // 2 is not running
  EXPECT_EQ(d.start, (std::vector<size_t>{1}));  // 0 is temporary
}

TEST(supervision, a_child_that_is_not_restarted_moves_nothing) {
  manual_clock clk;
  supervisor_policy p{restart_strategy::one_for_all, 1, 10s};
  std::vector<restart_type> types{restart_type::transient,
                                  restart_type::temporary,
                                  restart_type::permanent};
  EXPECT_EQ(p.on_exit(0, types, all_running, false, clk.now()).what,
            action::forget);
  EXPECT_EQ(p.on_exit(1, types, all_running, true, clk.now()).what,
            action::forget);
  // Forgotten exits do not count against the intensity.
  EXPECT_EQ(p.on_exit(0, types, all_running, true, clk.now()).what,
            action::restart);
  EXPECT_EQ(p.on_exit(2, types, all_running, true, clk.now()).what,
            action::escalate);
}

TEST(supervision, more_restarts_than_the_intensity_within_the_period_escalate) {
  manual_clock clk;
  supervisor_policy p{restart_strategy::one_for_one, 2, 10s};
  EXPECT_EQ(p.on_exit(0, three, all_running, true, clk.now()).what,
            action::restart);
  clk.advance(4s);
  EXPECT_EQ(p.on_exit(1, three, all_running, true, clk.now()).what,
            action::restart);
  clk.advance(7s);  // the first restart left the window
  EXPECT_EQ(p.on_exit(2, three, all_running, true, clk.now()).what,
            action::restart);
  clk.advance(1s);
  auto d = p.on_exit(0, three, all_running, true, clk.now());
  EXPECT_EQ(d.what, action::escalate);
  EXPECT_TRUE(d.start.empty());
  EXPECT_EQ(p.intensity(), 2u);
  EXPECT_EQ(p.period(), std::chrono::milliseconds{10s});
}

TEST(supervision, dynamic_children_share_one_intensity_and_keep_their_history) {
  manual_clock clk;
  dynamic_supervision s{2, 10s};
  EXPECT_EQ(s.find("breaker/a"), nullptr);
  EXPECT_TRUE(s.on_failure("breaker/a", "boom", clk.now(), 1000));
  EXPECT_TRUE(s.on_failure("bulkhead/x", "bang", clk.now(), 2000));
  // A third restart of any child within the period is one too many.
  EXPECT_FALSE(s.on_failure("breaker/a", "boom again", clk.now(), 3000));
  auto* a = s.find("breaker/a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->restarts, 1u);  // the refused one did not count
  EXPECT_EQ(a->last_reason, "boom again");
  EXPECT_EQ(a->last_failure_ms, 3000);
  clk.advance(11s);
  EXPECT_TRUE(s.on_failure("breaker/a", "later", clk.now(), 4000));
  EXPECT_EQ(s.find("breaker/a")->restarts, 2u);
  EXPECT_EQ(s.find("bulkhead/x")->restarts, 1u);
}
