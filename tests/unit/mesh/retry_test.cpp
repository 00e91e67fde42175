#include "runtime/mesh/retry.hpp"

#include <gtest/gtest.h>

using namespace valmesh;
using namespace std::chrono_literals;

namespace {

backoff_policy policy(backoff_kind k, jitter_kind j) {
  return {k, 100ms, 2s, j};
}

}  // namespace

TEST(backoff, sequences_without_jitter) {
  backoff fixed{policy(backoff_kind::fixed, jitter_kind::none), 1};
  backoff linear{policy(backoff_kind::linear, jitter_kind::none), 1};
  backoff expo{policy(backoff_kind::exponential, jitter_kind::none), 1};
  std::vector<clock::duration> f, l, e;
  for (uint32_t n = 1; n <= 6; ++n) {
    f.push_back(fixed.next(n));
    l.push_back(linear.next(n));
    e.push_back(expo.next(n));
  }
  using d = clock::duration;
  EXPECT_EQ(f, (std::vector<d>(6, 100ms)));
  EXPECT_EQ(l, (std::vector<d>{100ms, 200ms, 300ms, 400ms, 500ms, 600ms}));
  EXPECT_EQ(e, (std::vector<d>{100ms, 200ms, 400ms, 800ms, 1600ms, 2s}));
  EXPECT_EQ(expo.next(200), 2s);  // capped, no overflow
}

TEST(backoff, jitter_stays_in_its_range_and_is_seeded) {
  for (int seed = 1; seed <= 50; ++seed) {
    backoff full{policy(backoff_kind::exponential, jitter_kind::full),
                 uint64_t(seed)};
    backoff equal{policy(backoff_kind::exponential, jitter_kind::equal),
                  uint64_t(seed)};
    backoff deco{policy(backoff_kind::exponential, jitter_kind::decorrelated),
                 uint64_t(seed)};
    clock::duration prev = 100ms;
    for (uint32_t n = 1; n <= 8; ++n) {
      auto cap = std::min<clock::duration>(100ms * (1 << (n - 1)), 2s);
      auto x = full.next(n);
      EXPECT_GE(x, 0ms);
      EXPECT_LE(x, cap);
      auto y = equal.next(n);
      EXPECT_GE(y, cap / 2);
      EXPECT_LE(y, cap);
      auto z = deco.next(n);
      EXPECT_GE(z, 100ms);
      EXPECT_LE(z, std::min<clock::duration>(2s, prev * 3));
      prev = z;
    }
  }
  backoff a{policy(backoff_kind::exponential, jitter_kind::full), 9};
  backoff b{policy(backoff_kind::exponential, jitter_kind::full), 9};
  for (uint32_t n = 1; n <= 5; ++n) EXPECT_EQ(a.next(n), b.next(n));
}

TEST(backoff, parses_names) {
  EXPECT_EQ(parse_backoff("linear"), backoff_kind::linear);
  EXPECT_EQ(parse_jitter("decorrelated"), jitter_kind::decorrelated);
  EXPECT_FALSE(parse_backoff("quadratic"));
  EXPECT_FALSE(parse_jitter("some"));
}

TEST(retry_budget, a_quiet_service_gets_the_floor) {
  manual_clock clk;
  retry_budget b{0.2, 10};
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(b.try_retry(clk.now()));
  EXPECT_FALSE(b.try_retry(clk.now()));
  clk.advance(1s);  // a new second, a new floor
  EXPECT_TRUE(b.try_retry(clk.now()));
}

TEST(retry_budget, a_busy_service_gets_twenty_percent) {
  manual_clock clk;
  retry_budget b{0.2, 0};
  for (int i = 0; i < 100; ++i) b.on_request(clk.now());
  int allowed = 0;
  for (int i = 0; i < 50; ++i) allowed += b.try_retry(clk.now()) ? 1 : 0;
  EXPECT_EQ(allowed, 20);
  clk.advance(11s);  // the window forgot those requests
  EXPECT_FALSE(b.try_retry(clk.now()));
}

TEST(retry, succeeds_after_retryable_failures) {
  manual_clock clk;
  int calls = 0;
  std::vector<clock::duration> waits;
  retry_options o;
  o.max_retries = 3;
  o.backoff = policy(backoff_kind::exponential, jitter_kind::none);
  o.on_retry = [&](uint32_t, const failure&, clock::duration d) {
    waits.push_back(d);
  };
  auto r = retry<int>(
      [&]() -> expected<int> {
        if (++calls < 3) return failure{errc::unavailable, "ECONNREFUSED"};
        return 42;
      },
      o, clk, [&](clock::duration d) { clk.advance(d); });
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 42);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(waits, (std::vector<clock::duration>{100ms, 200ms}));
}

TEST(retry, stops_at_max_retries_and_on_non_retryable_failures) {
  manual_clock clk;
  int calls = 0;
  retry_options o;
  o.max_retries = 2;
  o.backoff = policy(backoff_kind::fixed, jitter_kind::none);
  auto fail = [&]() -> expected<int> {
    ++calls;
    return failure{errc::unavailable, "down"};
  };
  auto sleep = [&](clock::duration d) { clk.advance(d); };
  EXPECT_FALSE(retry<int>(fail, o, clk, sleep));
  EXPECT_EQ(calls, 3);
  calls = 0;
  o.retryable = [](const failure& f) { return f.code == errc::timeout; };
  auto r = retry<int>(fail, o, clk, sleep);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "down");
  EXPECT_EQ(calls, 1);
}

TEST(retry, the_deadline_covers_all_attempts) {
  manual_clock clk;
  int calls = 0;
  retry_options o;
  o.max_retries = 100;
  o.timeout = 1s;
  o.backoff = policy(backoff_kind::fixed, jitter_kind::none);  // 100ms waits
  auto r = retry<int>(
      [&]() -> expected<int> {
        ++calls;
        clk.advance(100ms);  // each attempt takes 100ms
        return failure{errc::timeout, "slow"};
      },
      o, clk, [&](clock::duration d) { clk.advance(d); });
  EXPECT_FALSE(r);
  EXPECT_EQ(calls, 5);  // 5 x (100ms + 100ms) = 1s
}

TEST(async_retry, retries_through_the_scheduler_and_completes_once) {
  manual_clock clk;
  std::vector<std::pair<clock::duration, std::function<void()>>> timers;
  int calls = 0, done = 0;
  std::optional<expected<std::string>> result;
  retry_options o;
  o.backoff = policy(backoff_kind::linear, jitter_kind::none);
  async_retry<std::string>(
      [&](std::function<void(expected<std::string>)> k) {
        if (++calls < 3)
          k(failure{errc::bad_gateway, "502"});
        else
          k(std::string{"ok"});
      },
      o, clk,
      [&](clock::duration d, std::function<void()> f) {
        timers.emplace_back(d, f);
      },
      [&](expected<std::string> r) {
        ++done;
        result.emplace(std::move(r));
      });
  // Nothing sleeps: the waits are handed to the scheduler, one at a time.
  ASSERT_EQ(timers.size(), 1u);
  EXPECT_EQ(timers[0].first, 100ms);
  timers[0].second();
  ASSERT_EQ(timers.size(), 2u);
  EXPECT_EQ(timers[1].first, 200ms);
  timers[1].second();
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(done, 1);
  ASSERT_TRUE(result && *result);
  EXPECT_EQ(**result, "ok");
}
