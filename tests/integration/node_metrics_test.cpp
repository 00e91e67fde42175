// The node's own series in `GET /metrics` of a running agent: the HTTP front
// end by route pattern and code (counted per event loop), its connections,
// event subscribers, health-check lateness, the durable store, and the
// actors summed by kind; and `valmesh stat --watch` redrawing.

#include <unistd.h>

#include <csignal>
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/mesh_fixture.hpp"
#include "tests/support/metrics_text.hpp"
#include "tests/support/process.hpp"

using namespace valmesh;
using namespace valmesh::test;
using json = nlohmann::json;

namespace {

/// A sample that may be absent (no answer of that code yet) as 0.
double count(const std::string& text, const std::string& series) {
  auto v = sample(text, series);
  return v < 0 ? 0 : v;
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos;
       at = text.find(what, at + what.size()))
    ++n;
  return n;
}

}  // namespace

TEST(node_metrics, http_requests_by_route_pattern_and_code) {
  auto a = agent::start();
  ASSERT_TRUE(a.proc);
  const std::string route = "route=\"/api/services/:name\"";
  auto before = scrape(a);
  // Three answers 404 and two 200 on one route, whatever the names.
  for (auto name : {"nobody", "no-one", "none-at-all"})
    ASSERT_EQ(
        http(a.http(), "GET", std::string{"/api/services/"} + name).status,
        404u);
  json j = {{"name", "orders"},
            {"id", "orders-1"},
            {"host", "127.0.0.1"},
            {"port", 6000}};
  ASSERT_EQ(http(a.http(), "POST", "/api/services", j.dump()).status, 201u);
  for (int i = 0; i < 2; ++i)
    ASSERT_EQ(http(a.http(), "GET", "/api/services/orders").status, 200u);
  // A path no route takes.
  ASSERT_EQ(http(a.http(), "GET", "/no/such/path").status, 404u);
  auto after = scrape(a);
  auto delta = [&](const std::string& series) {
    return count(after, series) - count(before, series);
  };
  EXPECT_EQ(delta("valmesh_http_requests_total{" + route + ",code=\"404\"}"),
            3);
  EXPECT_EQ(delta("valmesh_http_requests_total{" + route + ",code=\"200\"}"),
            2);
  EXPECT_EQ(delta("valmesh_http_requests_total{route=\"/api/services\","
                  "code=\"201\"}"),
            1);
  EXPECT_EQ(delta("valmesh_http_requests_total{route=\"none\",code=\"404\"}"),
            1);
  EXPECT_EQ(delta("valmesh_http_request_duration_seconds_count{" + route + "}"),
            5);
  EXPECT_EQ(delta("valmesh_http_request_duration_seconds_bucket{" + route +
                  ",le=\"+Inf\"}"),
            5);
  EXPECT_GT(delta("valmesh_http_request_duration_seconds_sum{" + route + "}"),
            0);
  // The status classes, as before: the scrape before this one is a 200
  // among them too.
  EXPECT_GE(delta("valmesh_http_responses_total{code=\"4xx\"}"), 4);
  EXPECT_GE(delta("valmesh_http_responses_total{code=\"2xx\"}"), 4);
  // The label is the pattern, never the raw path: cardinality stays bounded.
  EXPECT_EQ(after.find("route=\"/api/services/nobody\""), std::string::npos);
  EXPECT_EQ(after.find("/no/such/path"), std::string::npos);
  // Every scrape was a connection of its own.
  EXPECT_GE(delta("valmesh_http_connections_accepted_total"), 8);
  EXPECT_EQ(a.proc->stop(SIGTERM), 0);
}

TEST(node_metrics, open_connections_and_event_subscribers_come_and_go) {
  auto a = agent::start();
  ASSERT_TRUE(a.proc);
  // The scrape's own connection is open while it is answered (an earlier
  // client's may still be closing).
  const double base_open = 1;
  ASSERT_TRUE(eventually([&] {
    return sample(scrape(a), "valmesh_http_connections_open") == base_open;
  }));
  EXPECT_EQ(sample(scrape(a), "valmesh_events_subscribers"), 0);
  {
    std::vector<std::unique_ptr<raw_connection>> idle;
    for (int i = 0; i < 3; ++i)
      idle.push_back(std::make_unique<raw_connection>(a.http_port));
    raw_connection events{a.http_port};
    events.send("GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_TRUE(eventually([&] {
      auto t = scrape(a);
      return sample(t, "valmesh_http_connections_open") == base_open + 4 &&
             sample(t, "valmesh_events_subscribers") == 1;
    }));
  }
  EXPECT_TRUE(eventually([&] {
    auto t = scrape(a);
    return sample(t, "valmesh_http_connections_open") == base_open &&
           sample(t, "valmesh_events_subscribers") == 0;
  }));
  EXPECT_EQ(sample(scrape(a), "valmesh_events_dropped_total"), 0);
  EXPECT_EQ(a.proc->stop(SIGTERM), 0);
}

TEST(node_metrics, refused_connections_are_counted) {
  auto a = agent::start({"--max-connections", "2"});
  ASSERT_TRUE(a.proc);
  // Every 503 a client of this test saw (a scrape too, when the clients'
  // connections are still closing) must be counted.
  int seen = 0;
  auto refused = [&] {
    auto r = http(a.http(), "GET", "/metrics");
    if (r.status == 503) ++seen;
    if (r.status != 200) return -1.0;
    return sample("\n" + r.body, "valmesh_http_connections_refused_total");
  };
  EXPECT_EQ(refused(), 0);
  // Two clients hold the two connections, a third is refused. The
  // scrape's own connection may still be closing when they connect, so an
  // attempt whose first two were refused is retried.
  auto is_503 = [&](const std::string& answer) {
    bool refused = answer.find("HTTP/1.1 503 ") != std::string::npos;
    seen += refused ? 1 : 0;
    return refused;
  };
  EXPECT_TRUE(eventually(
      [&] {
        raw_connection one{a.http_port}, two{a.http_port};
        one.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        two.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        auto first = is_503(one.read_responses(1, 5s));
        auto second = is_503(two.read_responses(1, 5s));
        if (first || second) return false;
        raw_connection three{a.http_port};
        return is_503(three.read_responses(1, 5s));
      },
      30s));
  ASSERT_GE(seen, 1);
  EXPECT_TRUE(eventually([&] { return refused() == seen; }));
  EXPECT_EQ(a.proc->stop(SIGTERM), 0);
}

TEST(node_metrics, health_check_lateness_is_a_histogram) {
  auto f = mesh_fixture::start("orders", 2);
  // Checks run every second: their starts are measured against their
  // schedule.
  EXPECT_TRUE(eventually([&] {
    return sample(scrape(f.node),
                  "valmesh_health_check_lateness_seconds_count") >= 4;
  }));
  auto t = scrape(f.node);
  EXPECT_EQ(
      sample(t, "valmesh_health_check_lateness_seconds_bucket{le=\"+Inf\"}"),
      sample(t, "valmesh_health_check_lateness_seconds_count"));
  EXPECT_GE(sample(t, "valmesh_health_check_lateness_seconds_sum"), 0);
}

TEST(node_metrics, store_appends_fsyncs_and_bytes_on_disk) {
  auto dir = ::testing::TempDir() + "/node-metrics-store-" +
             std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  auto a = agent::start_durable(dir);
  ASSERT_TRUE(a.proc);
  auto before = scrape(a);
  for (int i = 0; i < 3; ++i) {
    json j = {{"name", "orders"},
              {"id", "orders-" + std::to_string(i)},
              {"host", "127.0.0.1"},
              {"port", 6000 + i}};
    ASSERT_EQ(http(a.http(), "POST", "/api/services", j.dump()).status, 201u);
  }
  ASSERT_EQ(http(a.http(), "DELETE", "/api/services/orders/orders-0").status,
            204u);
  auto after = scrape(a);
  // Acknowledged means durable: every append is counted by the time the
  // answer came (a health check's result may add its own).
  auto appends = sample(after, "valmesh_store_appends_total") -
                 sample(before, "valmesh_store_appends_total");
  EXPECT_GE(appends, 4);
  auto fsyncs = sample(after, "valmesh_store_fsync_duration_seconds_count") -
                sample(before, "valmesh_store_fsync_duration_seconds_count");
  EXPECT_GE(fsyncs, 1);
  EXPECT_LE(fsyncs, appends);
  EXPECT_GT(sample(after, "valmesh_store_fsync_duration_seconds_sum"), 0);
  EXPECT_GT(sample(after, "valmesh_store_bytes"),
            sample(before, "valmesh_store_bytes"));
  EXPECT_EQ(sample(after, "valmesh_store_compactions_total"), 0);
  EXPECT_EQ(a.proc->stop(SIGTERM), 0);
  std::filesystem::remove_all(dir);
}

TEST(node_metrics, actors_summed_by_kind_with_restarts) {
  auto f = mesh_fixture::start("orders", 3, json::object(),
                               {"--enable-fault-injection"});
  auto t = scrape(f.node);
  // One series per kind, whatever the instances: three breakers in one.
  EXPECT_EQ(sample(t, "valmesh_actors{kind=\"registry\"}"), 1);
  EXPECT_EQ(sample(t, "valmesh_actors{kind=\"breaker\"}"), 3);
  EXPECT_EQ(sample(t, "valmesh_actors{kind=\"bulkhead\"}"), 1);
  EXPECT_EQ(t.find("breaker/orders-0"), std::string::npos);
  EXPECT_GT(
      sample(t, "valmesh_actor_messages_handled_total{kind=\"registry\"}"), 0);
  EXPECT_GE(sample(t, "valmesh_actor_mailbox_size{kind=\"registry\"}"), 0);
  EXPECT_EQ(sample(t, "valmesh_actor_restarts_total{kind=\"registry\"}"), 0);
  EXPECT_EQ(sample(t, "valmesh_actors_unresponsive{kind=\"registry\"}"), 0);
  ASSERT_EQ(
      http(f.node.http(), "POST", "/api/debug/actors/registry/crash").status,
      202u);
  EXPECT_TRUE(eventually([&] {
    auto t = scrape(f.node);
    return sample(t, "valmesh_actor_restarts_total{kind=\"registry\"}") == 1 &&
           sample(t, "valmesh_actors{kind=\"registry\"}") == 1;
  }));
}

TEST(node_metrics, a_scrape_answers_while_the_registry_does_not) {
  auto f = mesh_fixture::start("orders", 1, json::object(),
                               {"--enable-fault-injection"});
  auto t = scrape(f.node);
  EXPECT_EQ(
      sample(t, "valmesh_scrape_collector_success{collector=\"catalog\"}"), 1);
  EXPECT_EQ(sample(t, "valmesh_scrape_collector_success{collector=\"mesh\"}"),
            1);
  EXPECT_EQ(
      sample(t, "valmesh_scrape_collector_success{collector=\"tracing\"}"), 1);
  EXPECT_EQ(sample(t, "valmesh_services"), 1);
  // The registry blocks past the actor timeout (5 s): the scrape still
  // answers, without the catalog's series, and says so.
  ASSERT_EQ(
      http(f.node.http(), "POST", "/api/debug/actors/registry/stall?ms=7000")
          .status,
      202u);
  t = scrape(f.node);
  EXPECT_EQ(
      sample(t, "valmesh_scrape_collector_success{collector=\"catalog\"}"), 0);
  EXPECT_EQ(sample(t, "valmesh_services"), -1);
  EXPECT_EQ(sample(t, "valmesh_scrape_collector_success{collector=\"mesh\"}"),
            1);
  EXPECT_EQ(sample(t, "valmesh_actors_unresponsive{kind=\"registry\"}"), 1);
  EXPECT_GT(sample(t, "process_cpu_seconds_total"), 0);
  // Once it answers again, so do its series.
  EXPECT_TRUE(eventually(
      [&] {
        auto t = scrape(f.node);
        return sample(t,
                      "valmesh_scrape_collector_success{collector="
                      "\"catalog\"}") == 1 &&
               sample(t, "valmesh_services") == 1;
      },
      10s));
}

TEST(node_metrics, stat_watch_redraws_every_second) {
  auto f = mesh_fixture::start("orders", 1);
  auto watch = process::start({valmesh_bin(), "stat", "--watch", "--window",
                               "10s", "--addr", f.node.addr()});
  const std::string clear = "\033[H\033[2J";
  // The first frame: the service with no traffic yet.
  ASSERT_TRUE(
      eventually([&] { return occurrences(watch->out(), clear) >= 1; }, 10s))
      << watch->err();
  auto first_at = std::chrono::steady_clock::now();
  for (int i = 0; i < 4; ++i)
    ASSERT_EQ(http(f.node.http(), "GET", "/proxy/orders/x").status, 200u);
  // A later frame, a second or so after the first, shows the calls.
  ASSERT_TRUE(eventually(
      [&] {
        auto out = watch->out();
        auto last = out.rfind(clear);
        return occurrences(out, clear) >= 2 &&
               out.find("100.00%", last) != std::string::npos;
      },
      10s))
      << watch->out();
  EXPECT_GE(std::chrono::steady_clock::now() - first_at, 900ms);
  auto out = watch->out();
  auto second = out.find(clear, out.find(clear) + clear.size());
  EXPECT_NE(out.find("orders", second), std::string::npos) << out;
  EXPECT_NE(out.find("LATENCY_P99", second), std::string::npos) << out;
  // It runs until stopped.
  EXPECT_FALSE(watch->wait(0ms).has_value());
  EXPECT_TRUE(watch->stop(SIGTERM).has_value());
}
