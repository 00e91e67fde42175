// Overload limits on a real agent: connections past --max-connections get a
// 503 and are closed while connected clients carry on; event streams past
// events_max_streams get a 503, and so do blocking queries past
// max_blocking_queries; the accept loop keeps working when the
// process runs out of file descriptors; the default cap follows the fd limit.

#include <unistd.h>

#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"

using namespace valmesh;
using namespace valmesh::test;
using json = nlohmann::json;

namespace {

const std::string get_health =
    "GET /health HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n";

/// A keep-alive client: a raw connection that has had `answered` responses.
struct client {
  std::unique_ptr<raw_connection> conn;
  size_t answered = 0;

  explicit client(uint16_t port)
      : conn(std::make_unique<raw_connection>(port)) {}

  /// Sends one GET /health and returns the status line of its answer.
  std::string ask() {
    conn->send(get_health);
    auto bytes = conn->read_responses(++answered, 10s);
    if (count_responses(bytes) < answered) return "no answer";
    // The last response's status line.
    size_t pos = 0, last = 0;
    while ((pos = bytes.find("HTTP/1.1 ", pos)) != std::string::npos)
      last = pos++;
    return bytes.substr(last, bytes.find("\r\n", last) - last);
  }
};

/// Asks on a new connection; returns the status line, or "closed".
std::string ask_new(uint16_t port) {
  client c{port};
  if (!c.conn->connected()) return "closed";
  return c.ask();
}

/// prlimit(1), from util-linux (scripts/install-deps.sh).
const char* const prlimit = "/usr/bin/prlimit";

/// Starts an agent through `prlimit` with RLIMIT_NOFILE = n.
agent start_with_fd_limit(int n, std::vector<std::string> extra) {
  std::vector<std::string> argv{
      prlimit,       "--nofile=" + std::to_string(n) + ":" + std::to_string(n),
      valmesh_bin(), "agent",
      "--http",      "127.0.0.1:0",
      "--cluster",   "127.0.0.1:0",
      "--dev"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return agent::start_argv(std::move(argv));
}

}  // namespace

TEST(overload, connections_past_the_cap_get_503_and_connected_ones_carry_on) {
  constexpr int cap = 8;
  auto a = agent::start({"--max-connections", std::to_string(cap)});
  ASSERT_NE(a.http_port, 0);
  std::vector<client> connected;
  for (int i = 0; i < cap; ++i) {
    connected.emplace_back(a.http_port);
    ASSERT_EQ(connected.back().ask(), "HTTP/1.1 200 OK") << "client " << i;
  }

  // One more: a 503 with a JSON error, and the connection closed.
  raw_connection extra{a.http_port};
  ASSERT_TRUE(extra.connected());
  auto refused = extra.read_responses(1, 10s);
  EXPECT_NE(refused.find("HTTP/1.1 503 "), std::string::npos) << refused;
  EXPECT_NE(refused.find("Retry-After: 1"), std::string::npos) << refused;
  auto body =
      json::parse(refused.substr(refused.find("\r\n\r\n") + 4), nullptr, false);
  ASSERT_FALSE(body.is_discarded()) << refused;
  EXPECT_EQ(body["error"]["code"], "unavailable");
  EXPECT_TRUE(extra.wait_closed(5s)) << "a refused connection is closed";

  // The connected clients never noticed.
  for (auto& c : connected) EXPECT_EQ(c.ask(), "HTTP/1.1 200 OK");

  // Half of them leave: new clients are served again.
  connected.erase(connected.begin() + cap / 2, connected.end());
  EXPECT_TRUE(eventually(
      [&] { return ask_new(a.http_port) == "HTTP/1.1 200 OK"; }, 10s));
  for (auto& c : connected) EXPECT_EQ(c.ask(), "HTTP/1.1 200 OK");
}

TEST(overload, event_streams_past_the_cap_get_503) {
  auto path = ::testing::TempDir() + "/overload-events.json";
  std::ofstream{path} << json{{"events_max_streams", 2}}.dump();
  auto a = agent::start({"--config", path});
  ASSERT_NE(a.http_port, 0);
  auto open_stream = [&] {
    auto conn = std::make_unique<raw_connection>(a.http_port);
    conn->send("GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n");
    std::string head;
    eventually(
        [&] {
          head = conn->read_available(100ms);
          return head.find("\r\n\r\n") != std::string::npos;
        },
        10s);
    return std::make_pair(std::move(conn), head.substr(0, head.find("\r\n")));
  };
  auto first = open_stream();
  auto second = open_stream();
  EXPECT_EQ(first.second, "HTTP/1.1 200 OK");
  EXPECT_EQ(second.second, "HTTP/1.1 200 OK");
  auto res = http(a.http(), "GET", "/api/events");
  EXPECT_EQ(res.status, 503u) << res.body;
  EXPECT_EQ(parse(res)["error"]["code"], "unavailable");
  // Other requests are unaffected.
  EXPECT_EQ(http(a.http(), "GET", "/health").status, 200u);
  // One stream ends: its place is free again.
  first.first.reset();
  std::string status;
  EXPECT_TRUE(eventually(
      [&] {
        auto s = open_stream();
        status = s.second;
        return status == "HTTP/1.1 200 OK";
      },
      10s))
      << status;
}

TEST(overload, the_accept_loop_survives_running_out_of_descriptors) {
  // 96 descriptors in all, and a connection cap far above that: accept(2)
  // itself fails with EMFILE once the connections use up the rest.
  if (access(prlimit, X_OK) != 0) GTEST_SKIP() << prlimit << " is missing";
  auto a = start_with_fd_limit(96, {"--max-connections", "100000"});
  ASSERT_NE(a.http_port, 0);
  std::vector<client> first;
  for (int i = 0; i < 4; ++i) {
    first.emplace_back(a.http_port);
    ASSERT_EQ(first.back().ask(), "HTTP/1.1 200 OK");
  }
  // Far more connections than descriptors: the kernel completes them (the
  // listen backlog), the node cannot accept them all.
  std::vector<std::unique_ptr<raw_connection>> flood;
  for (int i = 0; i < 150; ++i)
    flood.push_back(std::make_unique<raw_connection>(a.http_port));
  EXPECT_TRUE(
      a.proc->wait_for(std::regex{"accept failed: Too many open files"}, 10s))
      << a.proc->out() << a.proc->err();
  // The clients accepted before are served throughout.
  for (auto& c : first) EXPECT_EQ(c.ask(), "HTTP/1.1 200 OK");
  // The flood leaves: the node accepts and serves new clients again.
  flood.clear();
  EXPECT_TRUE(eventually(
      [&] { return ask_new(a.http_port) == "HTTP/1.1 200 OK"; }, 15s));
  EXPECT_FALSE(a.proc->wait(0ms)) << "the node is still running";
}

TEST(overload, the_default_cap_follows_the_descriptor_limit) {
  // RLIMIT_NOFILE 200: (200 - 128) / 2 = 36 connections.
  if (access(prlimit, X_OK) != 0) GTEST_SKIP() << prlimit << " is missing";
  auto a = start_with_fd_limit(200, {});
  ASSERT_NE(a.http_port, 0);
  EXPECT_TRUE(a.proc->wait_for(std::regex{"max_connections=36\\b"}, 5s))
      << a.proc->out() << a.proc->err();
  std::vector<client> connected;
  for (int i = 0; i < 36; ++i) {
    connected.emplace_back(a.http_port);
    ASSERT_EQ(connected.back().ask(), "HTTP/1.1 200 OK") << "client " << i;
  }
  EXPECT_NE(ask_new(a.http_port), "HTTP/1.1 200 OK");
}

TEST(overload, blocking_queries_past_the_cap_get_503) {
  auto path = ::testing::TempDir() + "/overload-blocking.json";
  std::ofstream{path} << json{{"max_blocking_queries", 2}}.dump();
  auto a = agent::start({"--config", path});
  ASSERT_NE(a.http_port, 0);
  auto body = R"({"name": "orders", "host": "127.0.0.1", "port": 7000,
                  "healthEndpoint": "", "ttl": "30s"})";
  ASSERT_EQ(http(a.http(), "POST", "/api/services", body).status, 201u);
  auto r = http(a.http(), "GET", "/api/services/orders");
  auto index = r.headers.at("x-valmesh-index");
  auto id = parse(r)["instances"][0]["id"].get<std::string>();
  auto consul_index = http(a.http(), "GET", "/v1/health/service/orders")
                          .headers.at("x-consul-index");
  auto held_count = [&] {
    auto j = parse(http(a.http(), "GET", "/health"));
    return j.value("heldQueries", size_t{0});
  };

  // Two queries wait for a change: the cap is reached.
  auto hold = [&](const std::string& target) {
    auto c = std::make_unique<raw_connection>(a.http_port);
    c->send("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n");
    return c;
  };
  auto native = "/api/services/orders?index=" + index + "&wait=30s";
  auto consul = "/v1/health/service/orders?index=" + consul_index + "&wait=30s";
  auto first = hold(native);
  auto second = hold(consul);
  ASSERT_TRUE(eventually([&] { return held_count() == 2; }, 10s));

  // One more that would wait is refused at once, on either API.
  auto refused = http(a.http(), "GET", native);
  EXPECT_EQ(refused.status, 503u) << refused.body;
  EXPECT_EQ(parse(refused)["error"]["code"], "unavailable");
  EXPECT_NE(refused.body.find("max_blocking_queries"), std::string::npos);
  auto refused_consul = http(a.http(), "GET", consul);
  EXPECT_EQ(refused_consul.status, 503u) << refused_consul.body;
  // Reads that need not wait are answered as usual, and nothing was held
  // for the refused ones.
  EXPECT_EQ(http(a.http(), "GET", "/api/services/orders").status, 200u);
  EXPECT_EQ(
      http(a.http(), "GET", "/api/services/orders?index=1&wait=30s").status,
      200u);
  EXPECT_EQ(held_count(), 2u);

  // A change answers both held queries; their places are free again.
  ASSERT_EQ(
      http(a.http(), "PUT", "/api/services/orders/" + id + "/heartbeat").status,
      200u);
  for (auto* c : {first.get(), second.get()}) {
    auto bytes = c->read_responses(1, 10s);
    EXPECT_EQ(bytes.rfind("HTTP/1.1 200 OK", 0), 0u) << bytes;
  }
  auto now = http(a.http(), "GET", "/api/services/orders");
  auto third =
      hold("/api/services/orders?index=" + now.headers.at("x-valmesh-index") +
           "&wait=30s");
  auto fourth =
      hold("/api/services/orders?index=" + now.headers.at("x-valmesh-index") +
           "&wait=30s");
  EXPECT_TRUE(eventually([&] { return held_count() == 2; }, 10s));
}
