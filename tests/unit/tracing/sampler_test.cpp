// Samplers: fixed ones, ratio by trace id (the same decision on every
// node), parent-based, and the names the config takes.

#include <gtest/gtest.h>

#include "runtime/tracing/sampler.hpp"

using namespace valmesh;

namespace {

trace_id with_low(uint64_t lo) {
  return trace_id{0x1234, lo};
}

}  // namespace

TEST(sampler, always_and_never_ignore_the_parent) {
  span_context unsampled{with_low(1), span_id{1}, 0};
  EXPECT_TRUE(sampler::always().should_sample(&unsampled, with_low(1)));
  EXPECT_TRUE(sampler::always().should_sample(nullptr, with_low(~0ULL)));
  span_context sampled{with_low(1), span_id{1}, trace_flag_sampled};
  EXPECT_FALSE(sampler::never().should_sample(&sampled, with_low(0)));
}

TEST(sampler, ratio_compares_the_low_8_bytes_with_p_times_2_pow_64) {
  auto s = sampler::ratio(0.25);
  EXPECT_TRUE(s.should_sample(nullptr, with_low(0)));
  EXPECT_TRUE(s.should_sample(nullptr, with_low((1ULL << 62) - 1)));
  EXPECT_FALSE(s.should_sample(nullptr, with_low(1ULL << 62)));
  EXPECT_FALSE(s.should_sample(nullptr, with_low(~0ULL)));
  // The parent does not matter to a plain ratio sampler.
  span_context sampled{with_low(~0ULL), span_id{1}, trace_flag_sampled};
  EXPECT_FALSE(s.should_sample(&sampled, with_low(~0ULL)));
  EXPECT_FALSE(sampler::ratio(0).should_sample(nullptr, with_low(0)));
  EXPECT_TRUE(sampler::ratio(1).should_sample(nullptr, with_low(~0ULL)));
}

TEST(sampler, ratio_samples_about_p_of_random_traces_and_agrees_with_itself) {
  auto a = sampler::ratio(0.3), b = sampler::ratio(0.3);
  int n = 20000, hits = 0;
  for (int i = 0; i < n; ++i) {
    auto t = random_trace_id();
    bool x = a.should_sample(nullptr, t);
    ASSERT_EQ(x, b.should_sample(nullptr, t));  // every node decides alike
    hits += x;
  }
  EXPECT_NEAR(static_cast<double>(hits) / n, 0.3, 0.02);
}

TEST(sampler, parent_based_follows_the_parent_and_samples_roots_by_ratio) {
  auto s = sampler::parent_based();
  span_context on{with_low(5), span_id{1}, trace_flag_sampled};
  span_context off{with_low(5), span_id{1}, 0};
  EXPECT_TRUE(s.should_sample(&on, with_low(5)));
  EXPECT_FALSE(s.should_sample(&off, with_low(5)));
  EXPECT_TRUE(s.should_sample(nullptr, with_low(~0ULL)));  // ratio 1.0
  auto half = sampler::parent_based(0.5);
  EXPECT_TRUE(half.should_sample(&on, with_low(~0ULL)));
  EXPECT_FALSE(half.should_sample(nullptr, with_low(~0ULL)));
  EXPECT_TRUE(half.should_sample(nullptr, with_low(1)));
}

TEST(sampler, parses_the_config_names) {
  EXPECT_EQ(sampler::parse("always")->which(), sampler::kind::always);
  EXPECT_EQ(sampler::parse("never")->which(), sampler::kind::never);
  EXPECT_EQ(sampler::parse("parent-based")->which(),
            sampler::kind::parent_based);
  auto r = sampler::parse("ratio:0.25");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->which(), sampler::kind::ratio);
  EXPECT_DOUBLE_EQ(r->probability(), 0.25);
  EXPECT_EQ(r->to_string(), "ratio:0.25");
  EXPECT_EQ(sampler::parse("parent-based:0.1")->to_string(),
            "parent-based:0.1");
  EXPECT_EQ(sampler{}.to_string(), "parent-based");
  for (auto bad : {"", "sometimes", "ratio:", "ratio:1.5", "ratio:-0.1",
                   "ratio:abc", "ratio:0.5x", "parent-based:2"})
    EXPECT_FALSE(sampler::parse(bad)) << bad;
}
