// The Consul-compatible API (docs/CONSUL.md) on a real agent: registration
// with checks, pass/warn/fail, the agent, catalog and health reads with
// Consul's shapes, errors as Consul words them, the token, blocking
// queries (per-service indexes, wait, wake-up latency, a thousand held
// queries) and the same long-poll on valmesh's own /api/services.

#include <sys/resource.h>

#include <csignal>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"

using namespace valmesh;
using namespace valmesh::test;
using json = nlohmann::json;
using steady = std::chrono::steady_clock;

namespace {

web::client_response send(
    const agent& a, const std::string& method, const std::string& target,
    const std::string& body = {}, std::chrono::milliseconds timeout = 10s,
    std::vector<std::pair<std::string, std::string>> headers = {}) {
  web::client_request req;
  req.method = method;
  req.target = target;
  req.body = body;
  req.timeout = timeout;
  req.headers = std::move(headers);
  auto res = web::send_request(a.http(), req);
  if (!res) {
    ADD_FAILURE() << method << " " << target << ": " << res.error().message;
    return {};
  }
  return *res;
}

uint64_t index_of(const web::client_response& r) {
  auto i = r.headers.find("x-consul-index");
  return i == r.headers.end() ? 0 : std::stoull(i->second);
}

const std::string ttl_service = R"({
  "Name": "web", "ID": "web-1", "Address": "127.0.0.1", "Port": 8080,
  "Tags": ["primary", "v1"], "Meta": {"team": "blue"},
  "Check": {"CheckID": "service:web-1", "TTL": "30s"}})";

std::string health_status_of(const agent& a, const std::string& service) {
  auto r = send(a, "GET", "/v1/health/service/" + service);
  auto j = json::parse(r.body, nullptr, false);
  if (!j.is_array() || j.empty()) return "";
  return j[0]["Checks"].back()["Status"].get<std::string>();
}

/// Waits until the node holds `n` blocking queries (`heldQueries` of
/// `/health`).
bool await_held(const agent& a, size_t n, std::chrono::milliseconds timeout) {
  return eventually(
      [&] {
        auto j = json::parse(send(a, "GET", "/health").body, nullptr, false);
        return j.is_object() && j.value("heldQueries", size_t{0}) >= n;
      },
      timeout);
}

int thread_count(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  return -1;
}

}  // namespace

TEST(consul_api, registers_with_a_ttl_check_and_reads_like_consul) {
  auto a = agent::start({"--node-name", "node-a"});
  ASSERT_TRUE(a.proc);
  auto r = send(a, "PUT", "/v1/agent/service/register", ttl_service);
  ASSERT_EQ(r.status, 200u) << r.body;
  // The agent's own view.
  auto services = parse(send(a, "GET", "/v1/agent/services"));
  ASSERT_TRUE(services.contains("web-1")) << services.dump();
  auto& s = services["web-1"];
  EXPECT_EQ(s["Service"], "web");
  EXPECT_EQ(s["Port"], 8080);
  EXPECT_EQ(s["Tags"], json({"primary", "v1"}));
  EXPECT_EQ(s["Meta"], json({{"team", "blue"}}));
  // A new TTL check is critical until it passes.
  EXPECT_EQ(health_status_of(a, "web"), "critical");
  for (auto [verb, want] :
       {std::pair{"pass", "passing"}, std::pair{"warn", "warning"},
        std::pair{"fail", "critical"}, std::pair{"pass", "passing"}}) {
    auto u = send(a, "PUT",
                  std::string{"/v1/agent/check/"} + verb +
                      "/service%3Aweb-1?note=from%20test");
    ASSERT_EQ(u.status, 200u) << u.body;
    EXPECT_EQ(health_status_of(a, "web"), want) << verb;
  }
  // Health: Node, Service, Checks (serfHealth and the TTL check).
  auto h = send(a, "GET", "/v1/health/service/web?passing&tag=primary");
  ASSERT_EQ(h.status, 200u);
  EXPECT_GE(index_of(h), 1u);
  EXPECT_EQ(h.headers["content-type"], "application/json");
  auto entries = parse(h);
  ASSERT_EQ(entries.size(), 1u) << entries.dump();
  EXPECT_EQ(entries[0]["Node"]["Node"], "node-a");
  EXPECT_EQ(entries[0]["Node"]["Datacenter"], "dc1");
  EXPECT_EQ(entries[0]["Service"]["ID"], "web-1");
  EXPECT_EQ(entries[0]["Service"]["Address"], "127.0.0.1");
  auto& checks = entries[0]["Checks"];
  ASSERT_EQ(checks.size(), 2u);
  EXPECT_EQ(checks[0]["CheckID"], "serfHealth");
  EXPECT_EQ(checks[1]["CheckID"], "service:web-1");
  EXPECT_EQ(checks[1]["Output"], "from test");
  EXPECT_EQ(parse(send(a, "GET", "/v1/health/service/web?tag=nope")).size(),
            0u);
  // Catalog.
  auto cs = parse(send(a, "GET", "/v1/catalog/services"));
  EXPECT_EQ(cs["web"], json({"primary", "v1"}));
  auto c = parse(send(a, "GET", "/v1/catalog/service/web"));
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0]["ServiceID"], "web-1");
  EXPECT_EQ(c[0]["ServicePort"], 8080);
  EXPECT_EQ(c[0]["Node"], "node-a");
  EXPECT_EQ(parse(send(a, "GET", "/v1/catalog/service/none")), json::array());
  auto nodes = parse(send(a, "GET", "/v1/catalog/nodes"));
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0]["Node"], "node-a");
  auto self = parse(send(a, "GET", "/v1/agent/self"));
  EXPECT_EQ(self["Config"]["Datacenter"], "dc1");
  EXPECT_EQ(self["Config"]["NodeName"], "node-a");
  auto leader = parse(send(a, "GET", "/v1/status/leader"));
  EXPECT_EQ(leader, "127.0.0.1:" + std::to_string(a.cluster_port));
  EXPECT_EQ(parse(send(a, "GET", "/v1/status/peers")), json::array({leader}));
  // valmesh's own API shows the same instance, with no active check.
  auto own = parse(send(a, "GET", "/api/services/web"));
  EXPECT_EQ(own["instances"][0]["status"], "passing");
  EXPECT_EQ(own["instances"][0]["healthEndpoint"], "");
  // Deregister.
  ASSERT_EQ(send(a, "PUT", "/v1/agent/service/deregister/web-1").status, 200u);
  EXPECT_EQ(parse(send(a, "GET", "/v1/health/service/web")), json::array());
  EXPECT_EQ(parse(send(a, "GET", "/v1/agent/services")), json::object());
}

TEST(consul_api, an_http_check_is_valmesh_s_active_check) {
  auto e = echo::start("api");
  ASSERT_TRUE(e.proc);
  auto a = agent::start({"--health-interval", "200ms"});
  auto port = std::to_string(e.port);
  auto r = send(a, "PUT", "/v1/agent/service/register",
                R"({"name": "api", "port": )" + port +
                    R"(, "address": "127.0.0.1", "check": {"http":
                    "http://127.0.0.1:)" +
                    port + R"(/health", "interval": "1s", "timeout": "2s"}})");
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_TRUE(
      eventually([&] { return health_status_of(a, "api") == "passing"; }, 10s));
  auto checks = parse(send(a, "GET", "/v1/health/service/api"))[0]["Checks"];
  EXPECT_EQ(checks[1]["CheckID"], "service:api");
  EXPECT_EQ(checks[1]["Type"], "http");
  EXPECT_EQ(checks[1]["Definition"]["HTTP"],
            "http://127.0.0.1:" + port + "/health");
  EXPECT_EQ(checks[1]["Definition"]["Interval"], "1s");
  // An HTTP check takes no pass/warn/fail.
  auto p = send(a, "PUT", "/v1/agent/check/pass/service:api");
  EXPECT_EQ(p.status, 500u);
  EXPECT_EQ(p.body, "CheckID \"service:api\" does not have associated TTL");
}

TEST(consul_api, errors_answer_as_consul_and_change_nothing) {
  auto a = agent::start();
  auto before = send(a, "GET", "/api/services").body;
  auto text = [](const web::client_response& r) {
    return r.headers.count("content-type") &&
           r.headers.at("content-type").rfind("text/plain", 0) == 0;
  };
  auto r = send(a, "PUT", "/v1/agent/service/register", "{not json");
  EXPECT_EQ(r.status, 400u);
  EXPECT_TRUE(text(r));
  r = send(a, "PUT", "/v1/agent/service/register", R"({"Port": 80})");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.body, "Missing service name");
  r = send(a, "PUT", "/v1/agent/service/register",
           R"({"Name": "x", "Port": 80, "Check": {"TCP": "127.0.0.1:80",
               "Interval": "1s"}})");
  EXPECT_EQ(r.status, 400u);
  r = send(a, "GET", "/v1/agent/service/register");
  EXPECT_EQ(r.status, 405u);
  EXPECT_EQ(r.body, "method GET not allowed");
  r = send(a, "PUT", "/v1/agent/check/pass/service:nobody");
  EXPECT_EQ(r.status, 404u);
  EXPECT_TRUE(text(r));
  r = send(a, "PUT", "/v1/agent/service/deregister/nobody");
  EXPECT_EQ(r.status, 404u);
  r = send(a, "GET", "/v1/kv/some/key");
  EXPECT_EQ(r.status, 404u);
  EXPECT_TRUE(text(r));
  r = send(a, "GET", "/v1/health/service/web?index=1&wait=forever");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(r.body, "Invalid wait time");
  r = send(a, "GET", "/v1/health/service/web?dc=dc9");
  EXPECT_EQ(r.status, 500u);
  EXPECT_EQ(send(a, "GET", "/api/services").body, before);
}

TEST(consul_api, writes_need_the_token_as_consul_clients_send_it) {
  auto a = agent::start({"--token", "s3cret"});
  auto body = R"({"Name": "t", "Port": 81})";
  EXPECT_EQ(send(a, "PUT", "/v1/agent/service/register", body).status, 403u);
  EXPECT_EQ(send(a, "PUT", "/v1/agent/service/register", body, 10s,
                 {{"X-Consul-Token", "wrong"}})
                .status,
            403u);
  EXPECT_EQ(send(a, "GET", "/v1/agent/services").status, 200u);  // reads open
  EXPECT_EQ(send(a, "PUT", "/v1/agent/service/register", body, 10s,
                 {{"X-Consul-Token", "s3cret"}})
                .status,
            200u);
  EXPECT_EQ(
      send(a, "PUT", "/v1/agent/service/deregister/t?token=s3cret").status,
      200u);
}

TEST(consul_api, a_blocking_query_waits_its_wait_and_keeps_the_index) {
  auto a = agent::start();
  ASSERT_EQ(send(a, "PUT", "/v1/agent/service/register", ttl_service).status,
            200u);
  auto first = send(a, "GET", "/v1/health/service/web");
  auto index = index_of(first);
  ASSERT_GE(index, 1u);
  auto t0 = steady::now();
  auto held =
      send(a, "GET",
           "/v1/health/service/web?index=" + std::to_string(index) + "&wait=2s",
           {}, 10s);
  auto took = steady::now() - t0;
  EXPECT_EQ(held.status, 200u);
  EXPECT_EQ(index_of(held), index);
  EXPECT_GE(took, 2s);
  EXPECT_LT(took, 2s + 2s / 16 + 500ms);  // wait plus at most wait/16
  std::cout
      << "held for "
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
      << " ms with wait=2s\n";
}

TEST(consul_api, a_change_answers_a_held_query_at_once_and_only_its_own) {
  auto a = agent::start();
  ASSERT_EQ(send(a, "PUT", "/v1/agent/service/register", ttl_service).status,
            200u);
  ASSERT_EQ(send(a, "PUT", "/v1/agent/service/register",
                 R"({"Name": "other", "Port": 9, "Check": {"TTL": "30s"}})")
                .status,
            200u);
  auto index = index_of(send(a, "GET", "/v1/health/service/web"));
  std::atomic<bool> done{false};
  steady::time_point answered;
  web::client_response held;
  std::thread watcher([&] {
    held = send(
        a, "GET",
        "/v1/health/service/web?index=" + std::to_string(index) + "&wait=20s",
        {}, 30s);
    answered = steady::now();
    done = true;
  });
  // Once the query is held, change another service: the watch on `web`
  // must not wake.
  ASSERT_TRUE(await_held(a, 1, 5s));
  ASSERT_EQ(send(a, "PUT", "/v1/agent/check/pass/service:other").status, 200u);
  ASSERT_EQ(send(a, "PUT", "/v1/agent/check/fail/service:other").status, 200u);
  // Still held: the changes of `other` did not wake the watch on `web`.
  auto health = parse(send(a, "GET", "/health"));
  EXPECT_EQ(health["heldQueries"], 1) << "woke for another service";
  EXPECT_FALSE(done.load()) << "woke for another service";
  auto changed_at = steady::now();
  ASSERT_EQ(send(a, "PUT", "/v1/agent/check/pass/service:web-1").status, 200u);
  watcher.join();
  ASSERT_TRUE(done.load());
  auto latency = std::chrono::duration_cast<std::chrono::microseconds>(
      answered - changed_at);
  std::cout << "a held query answered " << latency.count()
            << " us after the change was sent\n";
  EXPECT_LT(latency, 50ms);
  EXPECT_GT(index_of(held), index);
  EXPECT_EQ(parse(held)[0]["Checks"][1]["Status"], "passing");
}

TEST(consul_api, valmesh_own_reads_long_poll_the_same_way) {
  auto a = agent::start();
  auto body = R"({"name": "orders", "host": "127.0.0.1", "port": 7000,
                  "healthEndpoint": "", "ttl": "30s"})";
  ASSERT_EQ(send(a, "POST", "/api/services", body).status, 201u);
  auto r = send(a, "GET", "/api/services/orders");
  auto index = std::stoull(r.headers.at("x-valmesh-index"));
  auto list_index = std::stoull(
      send(a, "GET", "/api/services").headers.at("x-valmesh-index"));
  auto id = parse(r)["instances"][0]["id"].get<std::string>();
  web::client_response held;
  auto t0 = steady::now();
  std::thread watcher([&] {
    held = send(
        a, "GET",
        "/api/services/orders?index=" + std::to_string(index) + "&wait=30s", {},
        40s);
  });
  ASSERT_TRUE(await_held(a, 1, 5s));
  send(a, "PUT", "/api/services/orders/" + id + "/heartbeat");
  watcher.join();
  EXPECT_LT(steady::now() - t0, 10s);
  EXPECT_EQ(held.status, 200u);
  EXPECT_GT(std::stoull(held.headers.at("x-valmesh-index")), index);
  EXPECT_EQ(parse(held)["instances"][0]["status"], "passing");
  auto list =
      send(a, "GET",
           "/api/services?index=" + std::to_string(list_index) + "&wait=10s",
           {}, 20s);
  EXPECT_GT(std::stoull(list.headers.at("x-valmesh-index")), list_index);
  auto bad = send(a, "GET", "/api/services?index=x");
  EXPECT_EQ(bad.status, 400u);
  EXPECT_EQ(parse(bad)["error"]["code"], "invalid_argument");
}

TEST(consul_api, a_thousand_held_queries_leave_the_node_responsive) {
  constexpr int held_count = 1000;
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < 2 * held_count + 200) {
    lim.rlim_cur = std::min<rlim_t>(lim.rlim_max, 4 * held_count);
    setrlimit(RLIMIT_NOFILE, &lim);
    getrlimit(RLIMIT_NOFILE, &lim);
  }
  if (lim.rlim_cur < held_count + 200)
    GTEST_SKIP() << "the file descriptor limit (" << lim.rlim_cur
                 << ") is below " << held_count + 200;
  auto a = agent::start();
  ASSERT_EQ(send(a, "PUT", "/v1/agent/service/register", ttl_service).status,
            200u);
  auto index = index_of(send(a, "GET", "/v1/health/service/web"));
  auto threads_before = thread_count(a.proc->pid());
  std::vector<raw_connection> conns;
  conns.reserve(held_count);
  auto request = "GET /v1/health/service/web?index=" + std::to_string(index) +
                 "&wait=60s HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int i = 0; i < held_count; ++i) {
    conns.emplace_back(a.http_port);
    ASSERT_TRUE(conns.back().connected()) << i;
    conns.back().send(request);
  }
  ASSERT_TRUE(await_held(a, held_count, 20s));
  // /health while they wait.
  std::vector<double> ms;
  for (int i = 0; i < 200; ++i) {
    auto t0 = steady::now();
    auto h = send(a, "GET", "/health");
    ms.push_back(
        std::chrono::duration<double, std::milli>(steady::now() - t0).count());
    ASSERT_EQ(h.status, 200u);
  }
  std::sort(ms.begin(), ms.end());
  auto p50 = ms[ms.size() / 2];
  auto p99 = ms[ms.size() * 99 / 100];
  auto threads_during = thread_count(a.proc->pid());
  std::cout << held_count << " held queries: /health p50 " << p50 << " ms, p99 "
            << p99 << " ms over " << ms.size() << " requests; agent threads "
            << threads_before << " before, " << threads_during
            << " while held\n";
  // Generous for a shared 2-core machine; the figures are printed above.
  EXPECT_LT(p99, 500.0);
  EXPECT_EQ(threads_during, threads_before);
  // One change answers all of them.
  ASSERT_EQ(send(a, "PUT", "/v1/agent/check/pass/service:web-1").status, 200u);
  int answered = 0;
  for (auto& c : conns) {
    auto bytes = c.read_responses(1, 10s);
    answered += bytes.rfind("HTTP/1.1 200", 0) == 0 ? 1 : 0;
  }
  EXPECT_EQ(answered, held_count);
}

TEST(consul_api, serves_a_second_listener_for_consul_clients) {
  auto a = agent::start({"--consul-http", "127.0.0.1:0"});
  auto m = a.proc->wait_for(std::regex{R"(consul-http=127\.0\.0\.1:(\d+))"});
  ASSERT_TRUE(m) << a.proc->out() << a.proc->err();
  endpoint ep{"127.0.0.1", static_cast<uint16_t>(std::stoi((*m)[1]))};
  auto r = http(ep, "PUT", "/v1/agent/service/register",
                R"({"Name": "second", "Port": 82})");
  ASSERT_EQ(r.status, 200u) << r.body;
  auto j = parse(http(a.http(), "GET", "/v1/catalog/services"));
  EXPECT_TRUE(j.contains("second")) << j.dump();
}

TEST(consul_api, a_graceful_shutdown_answers_held_queries_at_once) {
  auto a = agent::start();
  ASSERT_EQ(send(a, "PUT", "/v1/agent/service/register", ttl_service).status,
            200u);
  auto index = index_of(send(a, "GET", "/v1/health/service/web"));
  raw_connection held{a.http_port};
  held.send("GET /v1/health/service/web?index=" + std::to_string(index) +
            "&wait=5m HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(await_held(a, 1, 5s));
  auto t0 = steady::now();
  ::kill(a.proc->pid(), SIGTERM);
  auto bytes = held.read_responses(1, 10s);
  EXPECT_EQ(bytes.rfind("HTTP/1.1 200", 0), 0u) << bytes;
  EXPECT_NE(bytes.find("X-Consul-Index: " + std::to_string(index)),
            std::string::npos)
      << bytes;
  EXPECT_EQ(a.proc->wait(10s), 0);
  EXPECT_LT(steady::now() - t0, 5s);  // the drain did not wait for it
}
