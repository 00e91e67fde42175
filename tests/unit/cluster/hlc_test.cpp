#include "runtime/cluster/hlc.hpp"

#include <gtest/gtest.h>

using namespace valmesh;

namespace {

/// A wall clock a test sets to any value, backwards included (manual_clock
/// only moves forward).
class settable_clock final : public clock {
 public:
  time_point now() const noexcept override { return time_point{}; }
  int64_t unix_ms() const noexcept override { return unix_ / 1000; }
  int64_t unix_us() const noexcept override { return unix_; }
  void set(int64_t unix_us) noexcept { unix_ = unix_us; }

 private:
  int64_t unix_ = 1'700'000'000'000'000;
};

constexpr int64_t t0 = 1'700'000'000'000'000;  // in microseconds

}  // namespace

TEST(hlc_test, follows_the_wall_clock_when_it_moves_forward) {
  settable_clock clk;
  hybrid_clock hlc{clk};
  EXPECT_EQ(hlc.last(), 0u);
  auto a = hlc.now();
  EXPECT_EQ(a, hybrid_clock::make(t0, 0));
  clk.set(t0 + 5);
  auto b = hlc.now();
  EXPECT_EQ(b, hybrid_clock::make(t0 + 5, 0));
  EXPECT_EQ(hlc.last(), b);
}

TEST(hlc_test, counts_while_the_wall_clock_stands_still) {
  settable_clock clk;
  hybrid_clock hlc{clk};
  auto a = hlc.now();
  auto b = hlc.now();
  auto c = hlc.now();
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_EQ(hybrid_clock::physical_us(c), t0);
  EXPECT_EQ(hybrid_clock::logical(c), 2);
}

TEST(hlc_test, stays_monotonic_when_the_wall_clock_goes_back) {
  settable_clock clk;
  hybrid_clock hlc{clk};
  clk.set(t0 + 1'000'000);
  auto before = hlc.now();
  clk.set(t0);  // NTP stepped the clock back a second
  auto after = hlc.now();
  EXPECT_GT(after, before);
  EXPECT_EQ(hybrid_clock::physical_us(after), t0 + 1'000'000);
  EXPECT_EQ(hybrid_clock::logical(after), 1);
  clk.set(t0 + 1'000'001);  // the wall clock catches up: the counter resets
  EXPECT_EQ(hlc.now(), hybrid_clock::make(t0 + 1'000'001, 0));
}

TEST(hlc_test, orders_local_writes_after_an_observed_remote_one) {
  settable_clock clk;
  hybrid_clock hlc{clk};
  hlc.now();
  auto remote =
      hybrid_clock::make(t0 + 60'000'000, 7);  // a clock a minute ahead
  hlc.observe(remote);
  EXPECT_EQ(hlc.last(), remote);
  auto next = hlc.now();
  EXPECT_GT(next, remote);
  EXPECT_EQ(next, hybrid_clock::make(t0 + 60'000'000, 8));
}

TEST(hlc_test, ignores_an_observed_stamp_behind_it) {
  settable_clock clk;
  hybrid_clock hlc{clk};
  auto a = hlc.now();
  hlc.observe(hybrid_clock::make(t0 - 10, 3));
  EXPECT_EQ(hlc.last(), a);
  EXPECT_EQ(hlc.now(), a + 1);
}

TEST(hlc_test, a_full_counter_moves_to_the_next_microsecond) {
  settable_clock clk;
  hybrid_clock hlc{clk};
  hlc.observe(hybrid_clock::make(t0, hybrid_clock::max_logical - 1));
  auto a = hlc.now();
  EXPECT_EQ(a, hybrid_clock::make(t0, hybrid_clock::max_logical));
  auto b = hlc.now();
  EXPECT_GT(b, a);
  EXPECT_EQ(hybrid_clock::physical_us(b), t0 + 1);
  EXPECT_EQ(hybrid_clock::logical(b), 0);
}

TEST(hlc_test, splits_and_makes_stamps) {
  auto stamp = hybrid_clock::make(t0, 0x123);
  EXPECT_EQ(hybrid_clock::physical_us(stamp), t0);
  EXPECT_EQ(hybrid_clock::physical_ms(stamp), t0 / 1000);
  EXPECT_EQ(hybrid_clock::logical(stamp), 0x123);
  EXPECT_EQ(stamp >> 12, static_cast<uint64_t>(t0));
  EXPECT_EQ(stamp & 0xfff, 0x123u);
  // The largest 52-bit microsecond (in 2112) survives the round trip.
  int64_t max_us = (int64_t{1} << 52) - 1;
  auto top = hybrid_clock::make(max_us, hybrid_clock::max_logical);
  EXPECT_EQ(hybrid_clock::physical_us(top), max_us);
  EXPECT_EQ(hybrid_clock::logical(top), hybrid_clock::max_logical);
  // Later microseconds beat any counter.
  EXPECT_LT(hybrid_clock::make(t0, hybrid_clock::max_logical),
            hybrid_clock::make(t0 + 1, 0));
}

TEST(hlc_test, write_versions_order_by_stamp_then_origin) {
  write_version older{hybrid_clock::make(t0, 1), "node-z"};
  write_version newer{hybrid_clock::make(t0, 2), "node-a"};
  EXPECT_LT(older, newer);  // the stamp comes first, whatever the origin
  write_version tie_a{hybrid_clock::make(t0, 2), "node-a"};
  write_version tie_b{hybrid_clock::make(t0, 2), "node-b"};
  EXPECT_LT(tie_a, tie_b);  // the origin breaks ties
  EXPECT_EQ(newer, tie_a);
  EXPECT_NE(tie_a, tie_b);
  EXPECT_LT(write_version{}, older);  // "no version" loses to any write
}
