#include "runtime/mesh/mesh_policy.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace valmesh;
using namespace std::chrono_literals;
using json = nlohmann::json;

TEST(mesh_policy, defaults_follow_the_spec) {
  call_policy p;
  EXPECT_EQ(p.timeout, 5s);
  EXPECT_EQ(p.try_timeout(), 5s);
  EXPECT_EQ(p.retries, 3u);
  EXPECT_EQ(p.backoff.kind, backoff_kind::exponential);
  EXPECT_EQ(p.backoff.base, 100ms);
  EXPECT_EQ(p.backoff.max, 2s);
  EXPECT_EQ(p.backoff.jitter, jitter_kind::full);
  EXPECT_FALSE(p.retry_non_idempotent);
  EXPECT_EQ(p.breaker.window_size, 20u);
  EXPECT_EQ(p.breaker.minimum_calls, 10u);
  EXPECT_EQ(p.breaker.open_duration, 30s);
  EXPECT_EQ(p.breaker.half_open_calls, 3u);
  EXPECT_FALSE(p.breaker.slow_call_threshold);
  EXPECT_EQ(p.bulkhead.max_concurrent, 64u);
  EXPECT_EQ(p.bulkhead.max_queue, 128u);
  EXPECT_EQ(p.bulkhead.queue_timeout, 1s);
  EXPECT_EQ(p.strategy, lb_strategy::round_robin);
}

TEST(mesh_policy, star_sets_defaults_and_services_override_key_by_key) {
  mesh_policies m;
  auto e = read_policies(json::parse(R"({
    "*": {"timeout": "2s", "retries": 1},
    "orders": {"retries": 5, "perTryTimeout": "500ms", "jitter": "none",
               "backoff": "linear", "strategy": "least-connections",
               "slowCallThreshold": "250ms", "maxConcurrent": 8,
               "retryBudget": {"ratio": 0.5, "minPerSecond": 3}}
  })"),
                         m);
  ASSERT_FALSE(e) << e->message;
  EXPECT_EQ(m.of("other").timeout, 2s);
  EXPECT_EQ(m.of("other").retries, 1u);
  auto& o = m.of("orders");
  EXPECT_EQ(o.timeout, 2s) << "inherited from *";
  EXPECT_EQ(o.retries, 5u);
  EXPECT_EQ(o.try_timeout(), 500ms);
  EXPECT_EQ(o.backoff.jitter, jitter_kind::none);
  EXPECT_EQ(o.backoff.kind, backoff_kind::linear);
  EXPECT_EQ(o.strategy, lb_strategy::least_connections);
  EXPECT_EQ(o.breaker.slow_call_threshold, 250ms);
  EXPECT_EQ(o.bulkhead.max_concurrent, 8u);
  EXPECT_DOUBLE_EQ(o.retry_budget_ratio, 0.5);
  EXPECT_EQ(o.retry_budget_min_per_second, 3u);
}

TEST(mesh_policy, bad_values_name_the_key_and_change_nothing) {
  for (auto [text, key] : std::vector<std::pair<const char*, const char*>>{
           {R"({"a": {"retries": 11}})", "policies.a.retries"},
           {R"({"a": {"retries": "x"}})", "policies.a.retries"},
           {R"({"a": {"timeout": "soon"}})", "policies.a.timeout"},
           {R"({"a": {"timeout": "0ms"}})", "policies.a.timeout"},
           {R"({"a": {"backoff": "cubic"}})", "policies.a.backoff"},
           {R"({"a": {"jitter": "lots"}})", "policies.a.jitter"},
           {R"({"a": {"strategy": "best"}})", "policies.a.strategy"},
           {R"({"a": {"failureRateThreshold": 0}})",
            "policies.a.failureRateThreshold"},
           {R"({"a": {"minimumCalls": 30}})", "policies.a.minimumCalls"},
           {R"({"a": {"retryDelay": "3s"}})", "policies.a.maxDelay"},
           {R"({"a": {"retryBudget": {"ratio": 2}}})",
            "policies.a.retryBudget.ratio"},
           {R"({"a": {"colour": "red"}})", "policies.a.colour"},
           {R"({"a": 1})", "policies.a"},
           {R"([])", "policies"}}) {
    mesh_policies m;
    m.defaults.retries = 7;
    auto e = read_policies(json::parse(text), m);
    ASSERT_TRUE(e) << text;
    EXPECT_EQ(e->code, errc::invalid_argument);
    EXPECT_NE(e->message.find(key), std::string::npos)
        << text << ": " << e->message;
    EXPECT_EQ(m.defaults.retries, 7u) << "a bad file changes nothing";
    EXPECT_TRUE(m.services.empty());
  }
}

TEST(mesh_policy, header_overrides_are_checked_and_applied) {
  auto o = parse_overrides("250", "0");
  ASSERT_TRUE(o);
  call_policy p;
  p.per_try_timeout = 1s;
  auto q = with_overrides(p, *o);
  EXPECT_EQ(q.timeout, 250ms);
  EXPECT_EQ(q.try_timeout(), 250ms) << "a shorter deadline bounds each try";
  EXPECT_EQ(q.retries, 0u);
  EXPECT_TRUE(parse_overrides("", ""));
  for (auto [t, r] :
       std::vector<std::pair<const char*, const char*>>{{"0", ""},
                                                        {"-5", ""},
                                                        {"1.5", ""},
                                                        {"300001", ""},
                                                        {"", "11"},
                                                        {"", "x"},
                                                        {"", "-1"}})
    EXPECT_FALSE(parse_overrides(t, r)) << t << " " << r;
}

TEST(mesh_policy, deadline_arithmetic) {
  manual_clock clk;
  auto deadline = clk.now() + 1s;
  EXPECT_EQ(attempt_budget(clk.now(), deadline, 300ms), 300ms);
  clk.advance(800ms);
  EXPECT_EQ(attempt_budget(clk.now(), deadline, 300ms), 200ms)
      << "cut to what is left of the deadline";
  clk.advance(200ms);
  EXPECT_FALSE(attempt_budget(clk.now(), deadline, 300ms));
}

TEST(mesh_policy, retry_rules) {
  // The same composition as a mesh call: the policy's retry options and a
  // predicate with the method rule, judged by the retry utility.
  manual_clock clk;
  call_policy p;
  p.timeout = 1s;
  p.backoff.jitter = jitter_kind::none;
  auto may_retry = [&](uint32_t retries_done, bool idempotent,
                       bool nothing_sent) {
    auto o = retry_options_for(p);
    o.retryable = [&](const failure&) {
      return method_may_retry(p, idempotent, nothing_sent);
    };
    backoff b{o.backoff, 1};
    return detail::plan_retry(o, b, retries_done,
                              failure{errc::bad_gateway, "503"}, clk.now(),
                              clk.now() + p.timeout)
        .has_value();
  };
  EXPECT_TRUE(may_retry(0, true, false));
  EXPECT_FALSE(may_retry(3, true, false)) << "retries used up";
  EXPECT_FALSE(may_retry(0, false, false)) << "POST is not retried";
  EXPECT_TRUE(may_retry(0, false, true)) << "unless nothing was sent";
  p.backoff.base = 1s;
  EXPECT_FALSE(may_retry(0, true, false))
      << "a wait past the deadline is pointless";
  p.backoff.base = 100ms;
  p.retry_non_idempotent = true;
  EXPECT_TRUE(may_retry(0, false, false));
  EXPECT_TRUE(is_retryable_status(503));
  EXPECT_FALSE(is_retryable_status(500));
  EXPECT_TRUE(is_failure_status(500));
  EXPECT_FALSE(is_failure_status(429));
}
