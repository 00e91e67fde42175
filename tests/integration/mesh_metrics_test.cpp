// The mesh's golden signals from outside: exact counts of proxied calls in
// `GET /metrics`, `GET /api/stats` and `valmesh stat`, the breaker gauge,
// series that go with their instance, and real consumers of the text:
// `promtool check metrics` and a VictoriaMetrics that scrapes the node.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/mesh_fixture.hpp"
#include "tests/support/metrics_text.hpp"
#include "tests/support/process.hpp"

using namespace valmesh;
using namespace valmesh::test;
using json = nlohmann::json;

namespace {

/// Where `tool` is on the PATH, or empty.
std::string find_tool(const std::string& tool) {
  auto r = run({"/bin/sh", "-c", "command -v " + tool});
  auto path = r.out.substr(0, r.out.find('\n'));
  return r.exit_code == 0 ? path : std::string{};
}

/// A free loopback port (bound, then released for the tool to take).
uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

constexpr int n_calls = 20;
constexpr int k_failing = 5;

/// N proxied calls to `orders` of which the last K are answered 500 by the
/// echo (retries 0: a 500 is never retried anyway).
void make_calls(mesh_fixture& f) {
  for (int i = 0; i < n_calls; ++i) {
    if (i == n_calls - k_failing)
      for (auto& e : f.echoes) control(e, {{"status", 500}});
    auto r = http(f.node.http(), "GET", "/proxy/orders/x");
    ASSERT_EQ(r.status, i < n_calls - k_failing ? 200u : 500u);
  }
  for (auto& e : f.echoes) control(e, {{"status", 0}});
}

const json orders_policy = {
    {"orders", {{"retries", 0}, {"failureRateThreshold", 100}}}};

}  // namespace

TEST(mesh_metrics, n_calls_with_k_failures_per_service_and_instance) {
  auto f = mesh_fixture::start("orders", 1, orders_policy);
  make_calls(f);
  auto text = scrape(f.node);
  const std::string svc = "service=\"orders\"";
  const std::string inst = svc + ",instance=\"orders-0\"";
  EXPECT_EQ(
      sample(text, "valmesh_mesh_requests_total{" + svc + ",code=\"2xx\"}"),
      n_calls - k_failing);
  EXPECT_EQ(
      sample(text, "valmesh_mesh_requests_total{" + svc + ",code=\"5xx\"}"),
      k_failing);
  EXPECT_EQ(sample(text, "valmesh_mesh_instance_requests_total{" + inst +
                             ",code=\"2xx\"}"),
            n_calls - k_failing);
  EXPECT_EQ(sample(text, "valmesh_mesh_instance_requests_total{" + inst +
                             ",code=\"5xx\"}"),
            k_failing);
  EXPECT_EQ(
      sample(text, "valmesh_mesh_request_duration_seconds_count{" + svc + "}"),
      n_calls);
  EXPECT_EQ(sample(text, "valmesh_mesh_request_duration_seconds_bucket{" + svc +
                             ",le=\"+Inf\"}"),
            n_calls);
  EXPECT_EQ(sample(text,
                   "valmesh_mesh_instance_request_duration_seconds_"
                   "count{" +
                       inst + "}"),
            n_calls);
  EXPECT_EQ(sample(text, "valmesh_mesh_attempts_total{" + svc + "}"), n_calls);
  EXPECT_EQ(sample(text, "valmesh_mesh_retries_total{" + svc + "}"), 0);
  EXPECT_EQ(sample(text, "valmesh_mesh_requests_in_flight{" + svc + "}"), 0);
  EXPECT_EQ(
      sample(text, "valmesh_mesh_breaker_state{" + inst + ",state=\"closed\"}"),
      1);
  EXPECT_EQ(sample(text, "valmesh_mesh_upstream_connections_opened_total{" +
                             inst + "}") +
                sample(text, "valmesh_mesh_upstream_connections_reused_total{" +
                                 inst + "}"),
            n_calls);
  EXPECT_EQ(sample(text, "valmesh_build_info{version=\"0.1.0\"}"), 1);
  EXPECT_GT(sample(text, "process_resident_memory_bytes"), 0);
  EXPECT_GT(sample(text, "process_open_fds"), 0);
  EXPECT_GT(sample(text, "process_start_time_seconds"), 1.6e9);
  // The node's own parts: the registration from the config, and a server
  // and a client span per call (the default sampler records every one).
  EXPECT_EQ(sample(text, "valmesh_registry_registrations_total"), 1);
  EXPECT_GE(sample(text, "valmesh_tracing_spans_sampled_total"), 2 * n_calls);
  // The same calls in the windowed figures.
  const double rate = double(n_calls - k_failing) / n_calls;
  auto j =
      parse(http(f.node.http(), "GET", "/api/stats?window=1m&service=orders"));
  ASSERT_EQ(j["services"].size(), 1u) << j.dump();
  auto& s = j["services"][0];
  EXPECT_EQ(s["name"], "orders");
  EXPECT_EQ(s["requests"], n_calls);
  EXPECT_EQ(s["failures"], k_failing);
  EXPECT_DOUBLE_EQ(s["successRate"].get<double>(), rate);
  EXPECT_DOUBLE_EQ(s["requestsPerSecond"].get<double>(), n_calls / 60.0);
  EXPECT_GT(s["latencyMs"]["p99"].get<double>(), 0);
  EXPECT_LE(s["latencyMs"]["p50"].get<double>(),
            s["latencyMs"]["p99"].get<double>());
  ASSERT_EQ(s["instances"].size(), 1u);
  EXPECT_EQ(s["instances"][0]["id"], "orders-0");
  EXPECT_EQ(s["instances"][0]["requests"], n_calls);
  EXPECT_DOUBLE_EQ(s["instances"][0]["successRate"].get<double>(), rate);
  // `valmesh stat`, as JSON and as the table.
  auto cli = run_valmesh({"stat", "orders", "--json", "--addr", f.node.addr()});
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  auto cj = json::parse(cli.out);
  EXPECT_DOUBLE_EQ(cj["services"][0]["successRate"].get<double>(), rate);
  auto table =
      run_valmesh({"stat", "--window", "30s", "--addr", f.node.addr()});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("LATENCY_P99"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("75.00%"), std::string::npos) << table.out;
  auto one = run_valmesh({"stat", "orders", "--addr", f.node.addr()});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_NE(one.out.find("orders-0"), std::string::npos) << one.out;
}

TEST(mesh_metrics, bad_stats_queries_get_json_errors) {
  auto f = mesh_fixture::start("orders", 1, orders_policy);
  for (auto q :
       {"window=0s", "window=2m", "window=1500ms", "window=x", "service="}) {
    auto r = http(f.node.http(), "GET", std::string{"/api/stats?"} + q);
    EXPECT_EQ(r.status, 400u) << q;
    EXPECT_EQ(parse(r)["error"]["code"], "invalid_argument") << q;
  }
  auto r = http(f.node.http(), "GET", "/api/stats?service=nobody");
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(parse(r)["error"]["code"], "not_found");
  auto bad = run_valmesh({"stat", "--window", "5m", "--addr", f.node.addr()});
  EXPECT_EQ(bad.exit_code, 2);
  // A service with no calls yet shows with no success rate.
  auto j = parse(http(f.node.http(), "GET", "/api/stats"));
  ASSERT_EQ(j["services"].size(), 1u);
  EXPECT_EQ(j["services"][0]["requests"], 0);
  EXPECT_TRUE(j["services"][0]["successRate"].is_null());
}

TEST(mesh_metrics, an_opened_breaker_shows_in_its_gauge) {
  auto f = mesh_fixture::start(
      "orders", 1,
      {{"orders", {{"retries", 0}, {"windowSize", 4}, {"minimumCalls", 4}}}});
  control(f.echoes[0], {{"status", 500}});
  const std::string open =
      "valmesh_mesh_breaker_state{service=\"orders\",instance=\"orders-0\","
      "state=\"open\"}";
  EXPECT_TRUE(eventually([&] {
    http(f.node.http(), "GET", "/proxy/orders/x");
    return sample(scrape(f.node), open) == 1;
  }));
  // Calls now fail fast with the mesh's own error, counted by its code.
  EXPECT_EQ(http(f.node.http(), "GET", "/proxy/orders/x").status, 503u);
  auto text = scrape(f.node);
  EXPECT_GE(sample(text,
                   "valmesh_mesh_requests_total{service=\"orders\","
                   "code=\"circuit_open\"}"),
            1);
  EXPECT_EQ(sample(text,
                   "valmesh_mesh_breaker_state{service=\"orders\","
                   "instance=\"orders-0\",state=\"closed\"}"),
            0);
}

TEST(mesh_metrics, a_deregistered_instance_series_are_gone) {
  auto f = mesh_fixture::start("orders", 2, orders_policy);
  for (int i = 0; i < 4; ++i)
    ASSERT_EQ(http(f.node.http(), "GET", "/proxy/orders/x").status, 200u);
  auto text = scrape(f.node);
  ASSERT_NE(text.find("instance=\"orders-1\""), std::string::npos);
  ASSERT_EQ(
      http(f.node.http(), "DELETE", "/api/services/orders/orders-1").status,
      204u);
  EXPECT_TRUE(eventually([&] {
    return scrape(f.node).find("instance=\"orders-1\"") == std::string::npos;
  }));
  text = scrape(f.node);
  EXPECT_NE(text.find("instance=\"orders-0\""), std::string::npos);
  EXPECT_EQ(sample(text, "valmesh_registry_deregistrations_total"), 1);
  // The service's own counts stay.
  EXPECT_EQ(sample(text,
                   "valmesh_mesh_requests_total{service=\"orders\","
                   "code=\"2xx\"}"),
            4);
}

TEST(mesh_metrics, promtool_accepts_the_whole_exposition) {
  auto promtool = find_tool("promtool");
  if (promtool.empty())
    GTEST_SKIP() << "promtool is not installed (Debian package prometheus; "
                    "scripts/install-deps.sh installs it)";
  auto f = mesh_fixture::start("orders", 2, orders_policy);
  make_calls(f);
  http(f.node.http(), "GET", "/api/services/nobody");  // a 4xx too
  auto path = ::testing::TempDir() + "/metrics-" + std::to_string(::getpid());
  std::ofstream{path} << scrape(f.node).substr(1);
  auto r = run({"/bin/sh", "-c", promtool + " check metrics < " + path});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out + r.err, "") << "promtool's lint found problems";
  std::remove(path.c_str());
}

TEST(mesh_metrics, victoria_metrics_scrapes_the_node_and_answers_queries) {
  auto vm = find_tool("victoria-metrics");
  if (vm.empty())
    GTEST_SKIP() << "victoria-metrics is not installed (Debian package "
                    "victoria-metrics; scripts/install-deps.sh installs it)";
  auto f = mesh_fixture::start("orders", 1, orders_policy);
  make_calls(f);
  auto dir = ::testing::TempDir() + "/vm-" + std::to_string(::getpid());
  run({"/bin/rm", "-rf", dir});
  run({"/bin/mkdir", "-p", dir});
  auto config = dir + "/scrape.yml";
  std::ofstream{config} << "scrape_configs:\n"
                           "  - job_name: valmesh\n"
                           "    scrape_interval: 1s\n"
                           "    static_configs:\n"
                           "      - targets: ['127.0.0.1:"
                        << f.node.http_port << "']\n";
  auto port = free_port();
  auto p = process::start({vm, "-storageDataPath=" + dir + "/data",
                           "-httpListenAddr=127.0.0.1:" + std::to_string(port),
                           "-promscrape.config=" + config,
                           "-search.latencyOffset=0s", "-loggerLevel=ERROR"});
  endpoint at{"127.0.0.1", port};
  // Not the test's `http`: connection refused is expected until it is up.
  auto query = [&](const std::string& q) {
    web::client_request req;
    req.target = "/api/v1/query?query=" + web::encode_path_segment(q);
    auto r = web::send_request(at, req);
    if (!r || r->status != 200) return json{};
    auto j = json::parse(r->body, nullptr, false);
    return j.is_discarded() ? json{} : j["data"]["result"];
  };
  // Each series with the node's value, as the scrapes reach the storage.
  const std::vector<std::pair<std::string, double>> want = {
      {"valmesh_mesh_requests_total{service=\"orders\",code=\"2xx\"}",
       n_calls - k_failing},
      // The scraper's own `instance` label (the target) wins; valmesh's
      // becomes `exported_instance` (Prometheus does the same).
      {"valmesh_mesh_instance_requests_total{service=\"orders\","
       "exported_instance=\"orders-0\",code=\"5xx\"}",
       k_failing},
      {"valmesh_mesh_request_duration_seconds_count{service=\"orders\"}",
       n_calls},
      {"valmesh_build_info{job=\"valmesh\",version=\"0.1.0\"}", 1},
      // The front end's count of the same calls, by route pattern.
      {"valmesh_http_requests_total{route=\"/proxy/:name/*\",code=\"500\"}",
       k_failing},
      {"valmesh_http_request_duration_seconds_count{route=\"/proxy/:name/*\"}",
       n_calls},
  };
  std::string last;
  auto all_there = [&] {
    for (auto& [q, v] : want) {
      auto res = query(q);
      last = q + " -> " + res.dump();
      if (!res.is_array() || res.size() != 1) return false;
      if (std::stod(res[0]["value"][1].get<std::string>()) != v) return false;
    }
    return true;
  };
  EXPECT_TRUE(eventually(all_there, 30s)) << last << "\n" << p->err();
  auto up = query("up{job=\"valmesh\"}");
  ASSERT_TRUE(up.is_array() && up.size() == 1u) << up.dump();
  EXPECT_EQ(up[0]["value"][1], "1");
  p->stop(SIGTERM);
  run({"/bin/rm", "-rf", dir});
}
