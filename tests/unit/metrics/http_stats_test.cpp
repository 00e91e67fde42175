// The HTTP front end's per-loop counts and their exposition.

#include "runtime/metrics/http_stats.hpp"

#include <gtest/gtest.h>

using namespace valmesh;

namespace {

/// The value of the sample `series` (name and labels as printed), or -1.
double sample(const std::string& text, const std::string& series) {
  auto at = ("\n" + text).find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size()));
}

}  // namespace

TEST(http_stats, counts_by_route_and_code_and_merges_loops) {
  http_stats one, two;
  one.request_finished(0, 200, 0.002);
  one.request_finished(0, 200, 0.004);
  one.request_finished(0, 404, 0.001);
  two.request_finished(0, 200, 0.003);
  two.request_finished(2, 503, 0.5);
  two.request_finished(http_stats::no_route, 404, 0.0001);
  one.connection_accepted();
  two.connection_accepted();
  two.connection_refused();
  one.session_opened();
  one.session_opened();
  one.session_closed();
  two.stream_opened();
  two.event_dropped();
  two.event_dropped();
  http_figures all;
  all.merge(one.figures());
  all.merge(two.figures());
  ASSERT_EQ(all.routes.size(), 4u);  // none, route 0, 1 (unused), 2
  EXPECT_EQ(all.routes[1].latency.count(), 4u);
  EXPECT_EQ(all.connections_open(), 1u);
  EXPECT_EQ(all.streams_open(), 1u);

  std::string text;
  // Routes 0 and 1 share a pattern (two methods): one series.
  write_http_metrics(
      text, all,
      {"/api/services/:name", "/api/services/:name", "/proxy/:name/*"});
  EXPECT_EQ(sample(text,
                   "valmesh_http_requests_total{route=\"/api/services/"
                   ":name\",code=\"200\"}"),
            3);
  EXPECT_EQ(sample(text,
                   "valmesh_http_requests_total{route=\"/api/services/"
                   ":name\",code=\"404\"}"),
            1);
  EXPECT_EQ(sample(text,
                   "valmesh_http_requests_total{route=\"/proxy/:name/"
                   "*\",code=\"503\"}"),
            1);
  EXPECT_EQ(
      sample(text, "valmesh_http_requests_total{route=\"none\",code=\"404\"}"),
      1);
  EXPECT_EQ(sample(text,
                   "valmesh_http_request_duration_seconds_count{route="
                   "\"/api/services/:name\"}"),
            4);
  EXPECT_EQ(sample(text,
                   "valmesh_http_request_duration_seconds_bucket{route="
                   "\"/api/services/:name\",le=\"0.0025\"}"),
            2);
  // Status classes, the refused connection a 5xx.
  EXPECT_EQ(sample(text, "valmesh_http_responses_total{code=\"2xx\"}"), 3);
  EXPECT_EQ(sample(text, "valmesh_http_responses_total{code=\"4xx\"}"), 2);
  EXPECT_EQ(sample(text, "valmesh_http_responses_total{code=\"5xx\"}"), 2);
  EXPECT_EQ(sample(text, "valmesh_http_connections_accepted_total"), 2);
  EXPECT_EQ(sample(text, "valmesh_http_connections_refused_total"), 1);
  EXPECT_EQ(sample(text, "valmesh_http_connections_open"), 1);
  EXPECT_EQ(sample(text, "valmesh_events_subscribers"), 1);
  EXPECT_EQ(sample(text, "valmesh_events_dropped_total"), 2);
  // One HELP and TYPE per family.
  EXPECT_EQ(text.find("# TYPE valmesh_http_requests_total counter"),
            text.rfind("# TYPE valmesh_http_requests_total counter"));
}

TEST(http_stats, a_route_counts_without_allocating_once_its_codes_are_known) {
  http_stats s;
  s.request_finished(3, 200, 0.001);
  auto* codes = s.figures().routes[4].codes.data();
  auto capacity = s.figures().routes.capacity();
  for (int i = 0; i < 1000; ++i) s.request_finished(3, 200, 0.001);
  EXPECT_EQ(s.figures().routes[4].codes.data(), codes);
  EXPECT_EQ(s.figures().routes.capacity(), capacity);
  EXPECT_EQ(s.figures().routes[4].codes[0].second, 1001u);
}
