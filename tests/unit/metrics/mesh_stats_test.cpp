// The mesh's per-loop counts: recording, merging loops at scrape time,
// pruning what left the catalog, and the text exposition.

#include <ctime>

#include <gtest/gtest.h>

#include "runtime/metrics/mesh_stats.hpp"
#include "runtime/metrics/process_metrics.hpp"

using namespace valmesh;

TEST(mesh_stats, results_by_status_class_and_mesh_error) {
  EXPECT_EQ(to_label(result_of_status(200)), "2xx");
  EXPECT_EQ(to_label(result_of_status(404)), "4xx");
  EXPECT_EQ(to_label(result_of_status(503)), "5xx");
  EXPECT_EQ(to_label(result_of_status(700)), "5xx");
  EXPECT_EQ(to_label(result_of_error(errc::bulkhead_full)), "bulkhead_full");
  EXPECT_EQ(to_label(result_of_error(errc::circuit_open)), "circuit_open");
  EXPECT_EQ(to_label(result_of_error(errc::no_healthy_instance)),
            "no_healthy_instance");
  EXPECT_EQ(to_label(result_of_error(errc::deadline_exceeded)),
            "deadline_exceeded");
  EXPECT_EQ(to_label(result_of_error(errc::bad_gateway)), "bad_gateway");
  EXPECT_FALSE(is_failure(mesh_outcome::status_4xx));
  EXPECT_TRUE(is_failure(mesh_outcome::status_5xx));
  EXPECT_TRUE(is_failure(mesh_outcome::circuit_open));
}

TEST(mesh_stats, loops_merge_into_one_figure_per_service_and_instance) {
  mesh_stats a, b;
  auto& sa = a.service("orders");
  for (int i = 0; i < 3; ++i) {
    mesh_stats::attempt_finished(sa, "o-1", 100, mesh_outcome::status_2xx,
                                 0.002, i > 0, true, false);
    mesh_stats::call_finished(sa, 100, mesh_outcome::status_2xx, 1, 0.002);
  }
  auto& sb = b.service("orders");
  mesh_stats::attempt_finished(sb, "o-2", 100, mesh_outcome::bad_gateway, 0.5,
                               false, false, true);
  mesh_stats::attempt_finished(sb, "o-1", 100, mesh_outcome::status_5xx, 0.01,
                               true, true, false);
  mesh_stats::call_finished(sb, 100, mesh_outcome::status_5xx, 2, 0.6);
  mesh_figures f;
  a.collect(100, 60, f);
  b.collect(100, 60, f);
  auto& s = f.at("orders");
  EXPECT_EQ(s.results[static_cast<size_t>(mesh_outcome::status_2xx)], 3u);
  EXPECT_EQ(s.results[static_cast<size_t>(mesh_outcome::status_5xx)], 1u);
  EXPECT_EQ(s.attempts, 5u);
  EXPECT_EQ(s.retries, 1u);
  EXPECT_EQ(s.try_timeouts, 1u);
  EXPECT_EQ(s.latency.count(), 4u);
  EXPECT_EQ(s.window.requests, 4u);
  EXPECT_EQ(s.window.failures, 1u);
  auto& o1 = s.instances.at("o-1");
  EXPECT_EQ(o1.results[static_cast<size_t>(mesh_outcome::status_2xx)], 3u);
  EXPECT_EQ(o1.connections_opened, 1u);
  EXPECT_EQ(o1.connections_reused, 3u);
  EXPECT_EQ(o1.window.requests, 4u);
  EXPECT_EQ(o1.window.failures, 1u);
  auto& o2 = s.instances.at("o-2");
  EXPECT_EQ(o2.try_timeouts, 1u);
  EXPECT_EQ(o2.connections_opened + o2.connections_reused, 0u);
}

TEST(mesh_stats, prune_drops_what_left_the_catalog_but_not_calls_in_flight) {
  mesh_stats m;
  auto& orders = m.service("orders");
  mesh_stats::attempt_finished(orders, "o-1", 1, mesh_outcome::status_2xx,
                               0.001, false, true, false);
  mesh_stats::attempt_finished(orders, "o-2", 1, mesh_outcome::status_2xx,
                               0.001, false, true, false);
  m.service("gone");
  m.service("busy").figures.in_flight = 1;
  m.prune([](const std::string& s, const std::string* id) {
    if (s != "orders") return false;
    return id == nullptr || *id == "o-1";
  });
  mesh_figures f;
  m.collect(1, 0, f);
  EXPECT_EQ(f.size(), 2u);  // orders and busy
  EXPECT_EQ(f.at("orders").instances.size(), 1u);
  EXPECT_EQ(f.at("orders").instances.count("o-1"), 1u);
  EXPECT_EQ(f.at("orders").window.requests, 0u);  // no window asked
}

TEST(mesh_stats, text_exposition_has_each_family_once_with_escaped_labels) {
  mesh_stats m;
  auto& s = m.service("or\"ders");
  mesh_stats::attempt_finished(s, "o-1", 1, mesh_outcome::status_2xx, 0.003,
                               false, true, false);
  mesh_stats::call_finished(s, 1, mesh_outcome::status_2xx, 1, 0.003);
  mesh_figures f;
  m.collect(1, 0, f);
  mesh_gauges g;
  g.services.push_back({"or\"ders", 2, {{"o-1", "open", 1}}});
  std::string text;
  write_mesh_metrics(text, f, g, 3);
  auto has = [&](const std::string& line) {
    return text.find("\n" + line + "\n") != std::string::npos;
  };
  EXPECT_TRUE(has(
      "valmesh_mesh_requests_total{service=\"or\\\"ders\",code=\"2xx\"} 1"));
  EXPECT_TRUE(
      has("valmesh_mesh_instance_requests_total{service=\"or\\\"ders\","
          "instance=\"o-1\",code=\"2xx\"} 1"));
  EXPECT_TRUE(
      has("valmesh_mesh_request_duration_seconds_bucket{service="
          "\"or\\\"ders\",le=\"0.005\"} 1"));
  EXPECT_TRUE(
      has("valmesh_mesh_request_duration_seconds_bucket{service="
          "\"or\\\"ders\",le=\"0.0025\"} 0"));
  EXPECT_TRUE(
      has("valmesh_mesh_request_duration_seconds_count{service="
          "\"or\\\"ders\"} 1"));
  EXPECT_TRUE(
      has("valmesh_mesh_breaker_state{service=\"or\\\"ders\","
          "instance=\"o-1\",state=\"open\"} 1"));
  EXPECT_TRUE(
      has("valmesh_mesh_breaker_state{service=\"or\\\"ders\","
          "instance=\"o-1\",state=\"closed\"} 0"));
  EXPECT_TRUE(has("valmesh_mesh_bulkhead_queued{service=\"or\\\"ders\"} 2"));
  EXPECT_TRUE(has("valmesh_mesh_upstream_connections_open 3"));
  // One TYPE line per family.
  size_t types = 0;
  for (size_t at = 0; (at = text.find("# TYPE valmesh_mesh_requests_total ",
                                      at)) != std::string::npos;
       ++at)
    ++types;
  EXPECT_EQ(types, 1u);
}

TEST(process_metrics, reads_this_process_from_proc) {
  auto p = read_process_figures();
  EXPECT_GT(p.resident_bytes, 0);
  EXPECT_GE(p.virtual_bytes, p.resident_bytes);
  EXPECT_GE(p.open_fds, 3);  // stdin, stdout, stderr at least
  EXPECT_GE(p.max_fds, p.open_fds);
  auto now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(p.start_time_seconds, now + 1);
  EXPECT_GT(p.start_time_seconds, now - 3600);  // this test started lately
  std::string text;
  write_process_metrics(text, p);
  write_build_info(text, "1.2.3");
  EXPECT_NE(text.find("\n# TYPE process_cpu_seconds_total counter\n"),
            std::string::npos);
  EXPECT_NE(text.find("\nvalmesh_build_info{version=\"1.2.3\"} 1\n"),
            std::string::npos);
}
