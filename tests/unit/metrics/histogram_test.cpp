// The fixed-bucket latency histogram and its quantiles against the exact
// quantiles of generated samples, and the per-second ring's windows.

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "runtime/metrics/histogram.hpp"
#include "runtime/metrics/second_ring.hpp"

using namespace valmesh;

namespace {

/// The bucket (lower, upper] that holds `x`.
std::pair<double, double> bucket_of(double x) {
  auto& b = latency_histogram::bounds();
  auto i = std::lower_bound(b.begin(), b.end(), x) - b.begin();
  if (i == static_cast<long>(b.size())) return {b.back(), b.back()};
  return {i == 0 ? 0.0 : b[i - 1], b[i]};
}

/// The exact q quantile: the ceil(q·n)-th smallest sample.
double exact_quantile(std::vector<double> xs, double q) {
  std::sort(xs.begin(), xs.end());
  auto k = static_cast<size_t>(std::ceil(q * static_cast<double>(xs.size())));
  return xs[std::max<size_t>(k, 1) - 1];
}

}  // namespace

TEST(latency_histogram, counts_each_observation_in_its_le_bucket) {
  latency_histogram h;
  h.observe(0.0001);  // on a bound: that bucket (le)
  h.observe(0.00011);
  h.observe(0.003);
  h.observe(42);  // past the last bound: +Inf
  EXPECT_EQ(h.count(), 4u);
  EXPECT_DOUBLE_EQ(h.sum(), 0.0001 + 0.00011 + 0.003 + 42);
  EXPECT_EQ(h.buckets()[0], 1u);
  EXPECT_EQ(h.buckets()[1], 1u);
  EXPECT_EQ(h.buckets()[5], 1u);  // (2.5 ms, 5 ms]
  EXPECT_EQ(h.buckets().back(), 1u);
  EXPECT_DOUBLE_EQ(h.quantile(1.0), 10);  // +Inf answers the last bound
}

TEST(latency_histogram, empty_answers_zero) {
  latency_histogram h;
  EXPECT_EQ(h.quantile(0.5), 0);
  EXPECT_EQ(h.count(), 0u);
}

TEST(latency_histogram, quantiles_fall_in_the_bucket_of_the_exact_quantile) {
  std::mt19937_64 rng{7};
  // Log-normal latencies around 2 ms with a long tail, and a uniform spread.
  std::lognormal_distribution<double> lognormal{std::log(0.002), 1.0};
  std::uniform_real_distribution<double> uniform{0.00005, 3.0};
  for (int dist = 0; dist < 2; ++dist) {
    for (size_t n : {1u, 7u, 100u, 10000u}) {
      std::vector<double> xs;
      latency_histogram h;
      for (size_t i = 0; i < n; ++i) {
        auto x = dist == 0 ? lognormal(rng) : uniform(rng);
        xs.push_back(x);
        h.observe(x);
      }
      for (double q : {0.5, 0.9, 0.95, 0.99, 0.999}) {
        auto exact = exact_quantile(xs, q);
        auto [lower, upper] = bucket_of(exact);
        auto est = h.quantile(q);
        EXPECT_GE(est, lower) << "n=" << n << " q=" << q << " exact=" << exact;
        EXPECT_LE(est, upper) << "n=" << n << " q=" << q << " exact=" << exact;
      }
    }
  }
}

TEST(latency_histogram, interpolates_inside_a_bucket_as_prometheus_does) {
  latency_histogram h;
  // Four samples in (1 ms, 2.5 ms]: the median is halfway through it.
  for (int i = 0; i < 4; ++i) h.observe(0.002);
  EXPECT_DOUBLE_EQ(h.quantile(0.5), 0.001 + (0.0025 - 0.001) * 0.5);
  EXPECT_DOUBLE_EQ(h.quantile(1.0), 0.0025);
}

TEST(latency_histogram, merge_adds_counts_and_sums) {
  latency_histogram a, b;
  a.observe(0.001);
  b.observe(0.001);
  b.observe(1);
  a.merge(b);
  EXPECT_EQ(a.count(), 3u);
  EXPECT_EQ(a.buckets()[3], 2u);
  EXPECT_DOUBLE_EQ(a.sum(), 1.002);
}

TEST(second_ring, sums_only_the_seconds_of_the_window) {
  second_ring r;
  // 10 requests a second for 100 seconds, every 5th failing; second s's
  // requests take s ms.
  for (int64_t s = 1000; s < 1100; ++s)
    for (int i = 0; i < 10; ++i)
      r.add(s, i % 5 == 0, static_cast<double>(s - 999) / 1000.0);
  auto w = r.sum(1099, 60);
  EXPECT_EQ(w.requests, 600u);
  EXPECT_EQ(w.failures, 120u);
  EXPECT_EQ(w.latency.count(), 600u);
  auto ten = r.sum(1099, 10);
  EXPECT_EQ(ten.requests, 100u);
  EXPECT_EQ(ten.failures, 20u);
  // Seconds 1090..1099 took 91..100 ms: all in (50 ms, 100 ms].
  EXPECT_GT(ten.latency.quantile(0.5), 0.05);
  EXPECT_LE(ten.latency.quantile(0.99), 0.1);
  // A window past the capacity is the capacity.
  EXPECT_EQ(r.sum(1099, 3600).requests, 600u);
  // Time moves on without traffic: the window empties.
  EXPECT_EQ(r.sum(1130, 60).requests, 290u);  // seconds 1071..1099
  EXPECT_EQ(r.sum(1200, 60).requests, 0u);
  r.trim(1200);
  EXPECT_TRUE(r.empty());
}

TEST(second_ring, a_window_ends_at_now) {
  second_ring r;
  r.add(10, false, 0.001);
  r.add(11, true, 0.001);
  EXPECT_EQ(r.sum(10, 1).requests, 1u);  // second 11 is after now
  EXPECT_EQ(r.sum(11, 1).failures, 1u);
  EXPECT_EQ(r.sum(11, 2).requests, 2u);
}
