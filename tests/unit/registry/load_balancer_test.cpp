#include "runtime/registry/load_balancer.hpp"

#include <map>
#include <string>

#include <gtest/gtest.h>

using namespace valmesh;

namespace {

std::vector<lb_candidate> three(uint32_t w0 = 1, uint32_t w1 = 1,
                                uint32_t w2 = 1) {
  return {{"a", w0, 0}, {"b", w1, 0}, {"c", w2, 0}};
}

std::map<size_t, int> count(load_balancer& lb, lb_strategy s,
                            const std::vector<lb_candidate>& xs, int n) {
  std::map<size_t, int> hits;
  for (int i = 0; i < n; ++i) ++hits[*lb.pick(s, xs)];
  return hits;
}

}  // namespace

TEST(load_balancer, parses_strategy_names) {
  for (auto s : {lb_strategy::round_robin, lb_strategy::random,
                 lb_strategy::least_connections, lb_strategy::weighted})
    EXPECT_EQ(parse_strategy(to_string(s)), s);
  EXPECT_FALSE(parse_strategy("roundrobin"));
  EXPECT_FALSE(parse_strategy(""));
}

TEST(load_balancer, empty_gives_nothing) {
  load_balancer lb{1};
  for (auto s : {lb_strategy::round_robin, lb_strategy::random,
                 lb_strategy::least_connections, lb_strategy::weighted})
    EXPECT_FALSE(lb.pick(s, {}));
}

TEST(load_balancer, round_robin_takes_each_in_turn) {
  load_balancer lb{1};
  auto xs = three();
  for (int round = 0; round < 4; ++round)
    for (size_t i = 0; i < 3; ++i)
      EXPECT_EQ(lb.pick(lb_strategy::round_robin, xs), i);
}

TEST(load_balancer, round_robin_is_fair_over_many_picks) {
  load_balancer lb{1};
  auto hits = count(lb, lb_strategy::round_robin, three(), 9999);
  for (auto& [_, n] : hits) EXPECT_EQ(n, 3333);
}

TEST(load_balancer, random_covers_all_uniformly) {
  load_balancer lb{42};
  auto hits = count(lb, lb_strategy::random, three(), 30'000);
  ASSERT_EQ(hits.size(), 3u);
  for (auto& [_, n] : hits) EXPECT_NEAR(n, 10'000, 500);
}

TEST(load_balancer, random_is_reproducible_from_a_seed) {
  load_balancer a{7}, b{7};
  auto xs = three();
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(a.pick(lb_strategy::random, xs), b.pick(lb_strategy::random, xs));
}

TEST(load_balancer, least_connections_picks_the_least_loaded) {
  load_balancer lb{1};
  std::vector<lb_candidate> xs{{"a", 1, 5}, {"b", 1, 2}, {"c", 1, 9}};
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(lb.pick(lb_strategy::least_connections, xs), 1u);
}

TEST(load_balancer, least_connections_shares_ties) {
  load_balancer lb{1};
  std::vector<lb_candidate> xs{{"a", 1, 1}, {"b", 1, 0}, {"c", 1, 0}};
  auto hits = count(lb, lb_strategy::least_connections, xs, 1000);
  EXPECT_EQ(hits.count(0), 0u);
  EXPECT_EQ(hits[1], 500);
  EXPECT_EQ(hits[2], 500);
}

TEST(load_balancer, weighted_shares_follow_weights_within_tolerance) {
  load_balancer lb{1};
  auto xs = three(5, 3, 2);
  auto hits = count(lb, lb_strategy::weighted, xs, 10'000);
  // Smooth WRR is exact over whole cycles of sum(weights) = 10 picks.
  EXPECT_NEAR(hits[0], 5000, 50);
  EXPECT_NEAR(hits[1], 3000, 50);
  EXPECT_NEAR(hits[2], 2000, 50);
}

TEST(load_balancer, weighted_is_smooth_like_nginx) {
  // nginx's documented example: weights {a:5, b:1, c:1} give
  // a a b a c a a rather than a burst of five a's.
  load_balancer lb{1};
  std::vector<lb_candidate> xs{{"a", 5, 0}, {"b", 1, 0}, {"c", 1, 0}};
  std::string seq;
  for (int i = 0; i < 7; ++i) seq += "abc"[*lb.pick(lb_strategy::weighted, xs)];
  EXPECT_EQ(seq, "aabacaa");
}

TEST(load_balancer, weighted_adapts_when_candidates_change) {
  load_balancer lb{1};
  auto xs = three(1, 1, 1);
  for (int i = 0; i < 10; ++i) lb.pick(lb_strategy::weighted, xs);
  std::vector<lb_candidate> two{{"a", 1, 0}, {"c", 3, 0}};
  auto hits = count(lb, lb_strategy::weighted, two, 4000);
  EXPECT_NEAR(hits[0], 1000, 10);
  EXPECT_NEAR(hits[1], 3000, 10);
}
