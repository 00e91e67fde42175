// `GET /metrics` of a running agent: Prometheus text that counts what the
// node did (answers, health checks, breaker transitions) and shows the
// catalog.

#include <regex>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/mesh_fixture.hpp"
#include "tests/support/metrics_text.hpp"
#include "tests/support/process.hpp"

using namespace valmesh;
using namespace valmesh::test;
using json = nlohmann::json;

namespace {

/// `GET /metrics`, and its content type as the text format 0.0.4 has it.
std::string scrape_checked(const agent& a) {
  auto r = http(a.http(), "GET", "/metrics");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(header(r, "content-type"),
            "text/plain; version=0.0.4; charset=utf-8");
  return "\n" + r.body;
}

}  // namespace

TEST(metrics, count_answers_checks_breakers_and_show_the_catalog) {
  auto f = mesh_fixture::start(
      "orders", 2,
      {{"orders", {{"retries", 0}, {"windowSize", 4}, {"minimumCalls", 4}}}});
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(http(f.node.http(), "GET", "/api/services").status, 200u);
  auto text = scrape_checked(f.node);
  EXPECT_GE(sample(text, "valmesh_http_responses_total{code=\"2xx\"}"), 5);
  EXPECT_EQ(sample(text, "valmesh_services"), 1);
  EXPECT_EQ(sample(text, "valmesh_instances{service=\"orders\"}"), 2);
  EXPECT_EQ(sample(text, "valmesh_instances_passing{service=\"orders\"}"), 2);
  EXPECT_GE(sample(text,
                   "valmesh_health_checks_total{result=\"passing\","
                   "service=\"orders\"}"),
            2);
  EXPECT_GE(sample(text,
                   "valmesh_health_check_duration_seconds_count{"
                   "service=\"orders\"}"),
            2);
  EXPECT_GT(sample(text,
                   "valmesh_health_check_duration_seconds_sum{"
                   "service=\"orders\"}"),
            0);
  // Make one instance fail until its breaker opens.
  control(f.echoes[0], {{"status", 500}});
  EXPECT_TRUE(eventually([&] {
    http(f.node.http(), "GET", "/proxy/orders/x");
    return sample(scrape_checked(f.node),
                  "valmesh_breaker_transitions_total{"
                  "service=\"orders\",to=\"open\"}") >= 1;
  }));
  // A 404 is counted as 4xx.
  EXPECT_EQ(http(f.node.http(), "GET", "/api/services/nobody").status, 404u);
  EXPECT_GE(sample(scrape_checked(f.node),
                   "valmesh_http_responses_total{code=\"4xx\"}"),
            1);
}
