#include "runtime/health/health_rules.hpp"

#include <gtest/gtest.h>

using namespace valmesh;
using namespace std::chrono_literals;

namespace {

check_result ok(std::chrono::microseconds d = 1000us) {
  return {check_verdict::passing, d, "HTTP 200"};
}
check_result warn() {
  return {check_verdict::warning, 1000us, "HTTP 429"};
}
check_result fail(std::string why = "HTTP 500") {
  return {check_verdict::critical, 1000us, std::move(why)};
}

}  // namespace

TEST(health_rules, classifies_http_statuses_as_consul_does) {
  EXPECT_EQ(classify_http_status(200), check_verdict::passing);
  EXPECT_EQ(classify_http_status(204), check_verdict::passing);
  EXPECT_EQ(classify_http_status(299), check_verdict::passing);
  EXPECT_EQ(classify_http_status(429), check_verdict::warning);
  for (unsigned s : {100u, 301u, 404u, 500u, 503u})
    EXPECT_EQ(classify_http_status(s), check_verdict::critical) << s;
}

TEST(health_rules, the_first_result_decides) {
  instance_health a, b, c;
  EXPECT_EQ(a.status(), health_status::unknown);
  EXPECT_EQ(a.record(ok(), 1), health_status::passing);
  EXPECT_EQ(b.record(fail(), 1), health_status::critical);
  EXPECT_EQ(c.record(warn(), 1), health_status::warning);
}

TEST(health_rules, failures_before_critical_absorbs_a_flap) {
  instance_health h{{2, 1}};
  h.record(ok(), 1);
  EXPECT_FALSE(h.record(fail(), 2));  // one failure: still passing
  EXPECT_EQ(h.status(), health_status::passing);
  EXPECT_FALSE(h.record(ok(), 3));  // the streak resets
  EXPECT_FALSE(h.record(fail(), 4));
  EXPECT_EQ(h.record(fail(), 5), health_status::critical);
  EXPECT_EQ(h.stats().last_status_change_ms, 5);
}

TEST(health_rules, success_before_passing_delays_recovery) {
  instance_health h{{1, 3}};
  EXPECT_EQ(h.record(fail(), 1), health_status::critical);
  EXPECT_FALSE(h.record(ok(), 2));
  EXPECT_FALSE(h.record(ok(), 3));
  EXPECT_FALSE(h.record(fail(), 4));  // a failure restarts the count
  EXPECT_FALSE(h.record(ok(), 5));
  EXPECT_FALSE(h.record(ok(), 6));
  EXPECT_EQ(h.record(ok(), 7), health_status::passing);
}

TEST(health_rules, passing_and_warning_switch_at_once) {
  instance_health h{{2, 1}};
  h.record(ok(), 1);
  EXPECT_EQ(h.record(warn(), 2), health_status::warning);
  EXPECT_EQ(h.record(ok(), 3), health_status::passing);
  h.record(warn(), 4);
  EXPECT_FALSE(h.record(fail(), 5));
  EXPECT_EQ(h.record(fail(), 6), health_status::critical);
  EXPECT_EQ(h.record(warn(), 7), health_status::warning);
}

TEST(health_rules, keeps_check_figures) {
  instance_health h;
  h.record(ok(1000us), 10);
  h.record(ok(3000us), 20);
  h.record(fail("timeout after 5000ms"), 30);
  auto& s = h.stats();
  EXPECT_EQ(s.checks, 3u);
  EXPECT_EQ(s.failures, 1u);
  EXPECT_EQ(s.consecutive_failures, 1u);
  EXPECT_NEAR(s.success_rate(), 2.0 / 3.0, 1e-9);
  EXPECT_EQ(s.mean_duration(), 5000us / 3);
  EXPECT_EQ(s.last_error, "timeout after 5000ms");
  EXPECT_EQ(s.last_output, "timeout after 5000ms");
  EXPECT_EQ(s.last_check_ms, 30);
  EXPECT_EQ(h.p99_duration(), 3000us);
}

TEST(health_rules, p99_uses_a_recent_window) {
  // The window is small (32 checks, to keep an instance's state small), so
  // its p99 is the slowest recent check.
  instance_health h;
  static_assert(instance_health::window == 32);
  for (int i = 1; i <= 32; ++i) h.record(ok(std::chrono::microseconds{i}), i);
  EXPECT_EQ(h.p99_duration(), 32us);
  h.record(ok(1000us), 33);  // replaces the oldest (1us)
  EXPECT_EQ(h.p99_duration(), 1000us);
  for (int i = 0; i < 32; ++i) h.record(ok(7us), i);  // old values age out
  EXPECT_EQ(h.p99_duration(), 7us);
}

TEST(health_rollup, services_roll_up_as_the_spec_says) {
  health_rollup r;
  r.set("a", "1", health_status::passing);
  r.set("a", "2", health_status::passing);
  EXPECT_EQ(r.service("a"), service_health::healthy);
  r.set("a", "2", health_status::warning);
  EXPECT_EQ(r.service("a"), service_health::degraded);
  r.set("a", "2", health_status::critical);
  EXPECT_EQ(r.service("a"), service_health::degraded);
  r.set("a", "1", health_status::unknown);
  EXPECT_EQ(r.service("a"), service_health::unhealthy);
  r.set("a", "1", health_status::warning);
  EXPECT_EQ(r.service("a"), service_health::degraded);
  EXPECT_EQ(r.service("nope"), service_health::unhealthy);
  EXPECT_EQ(r.counts("a")[health_status::critical], 1u);
}

TEST(health_rollup, overall_follows_every_service) {
  health_rollup r;
  EXPECT_EQ(r.overall(), service_health::healthy);  // nothing to be sick
  r.set("a", "1", health_status::passing);
  r.set("b", "1", health_status::passing);
  EXPECT_EQ(r.overall(), service_health::healthy);
  r.set("b", "1", health_status::critical);
  EXPECT_EQ(r.overall(), service_health::degraded);
  r.set("a", "1", health_status::critical);
  EXPECT_EQ(r.overall(), service_health::unhealthy);
  r.remove("a", "1");
  r.remove("b", "1");
  EXPECT_EQ(r.overall(), service_health::healthy);
  EXPECT_TRUE(r.services().empty());
}

TEST(health_rollup, a_critical_service_makes_the_whole_unhealthy) {
  health_rollup r{{"payments"}};
  r.set("payments", "1", health_status::critical);
  r.set("a", "1", health_status::passing);
  r.set("b", "1", health_status::passing);
  EXPECT_EQ(r.overall(), service_health::unhealthy);
  r.set("payments", "2", health_status::passing);  // degraded is not unhealthy
  EXPECT_EQ(r.overall(), service_health::degraded);
}
