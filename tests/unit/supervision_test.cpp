#include "runtime/supervision.hpp"

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
