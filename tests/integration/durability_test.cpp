// The durable store of a real `valmesh agent` (not --dev), each test on a
// fresh data dir: acknowledged registrations survive `kill -9`, a log cut in
// the middle of its last record recovers the rest with a warning, a second
// agent on the same dir is refused, config services keep one entry across
// restarts, and --dev writes nothing.

#include <sys/types.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"

using namespace valmesh;
using namespace valmesh::test;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

/// A fresh directory under /tmp, removed with everything in it.
struct temp_dir {
  temp_dir() {
    char tmpl[] = "/tmp/valmesh-durability.XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string data() const { return path + "/data"; }
  std::string path;
};

json instance(int i) {
  return {{"name", "bench"},
          {"id", "bench-" + std::to_string(i)},
          {"host", "127.0.0.1"},
          {"port", 10000 + i},
          {"version", "1." + std::to_string(i % 7)},
          {"tags", {"t" + std::to_string(i % 3)}},
          {"metadata", {{"i", std::to_string(i)}, {"zone", "eu"}}}};
}

std::string post(const std::string& body) {
  return "POST /api/services HTTP/1.1\r\nHost: t\r\nContent-Type: "
         "application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

/// Registers instances [0, n) over `connections` keep-alive connections,
/// each pipelining its share; returns how many were acknowledged with 201.
size_t register_pipelined(const agent& a, int n, int connections) {
  std::vector<std::thread> threads;
  std::vector<size_t> acked(connections, 0);
  for (int c = 0; c < connections; ++c)
    threads.emplace_back([&, c] {
      raw_connection conn{a.http_port};
      if (!conn.connected()) return;
      std::string batch;
      size_t count = 0;
      for (int i = c; i < n; i += connections, ++count)
        batch += post(instance(i).dump());
      conn.send(batch);
      auto bytes = conn.read_responses(count, 20s);
      for (size_t pos = bytes.find("HTTP/1.1 201 "); pos != std::string::npos;
           pos = bytes.find("HTTP/1.1 201 ", pos + 1))
        ++acked[c];
    });
  for (auto& t : threads) t.join();
  size_t total = 0;
  for (auto x : acked) total += x;
  return total;
}

json instances_of(const agent& a, const std::string& name) {
  auto res = http(a.http(), "GET", "/api/services/" + name);
  if (res.status != 200) return json::array();
  return parse(res)["instances"];
}

std::string log_file(const std::string& dir) {
  for (auto& e : fs::directory_iterator{dir}) {
    auto name = e.path().filename().string();
    if (name.rfind("log-", 0) == 0) return e.path().string();
  }
  return {};
}

}  // namespace

TEST(durability, a_thousand_registrations_survive_kill_9) {
  temp_dir tmp;
  auto a = agent::start_durable(tmp.data(), {"--health-interval", "1h"});
  ASSERT_TRUE(a.proc);
  auto t0 = std::chrono::steady_clock::now();
  auto acked = register_pipelined(a, 1000, 8);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - t0);
  ASSERT_EQ(acked, 1000u);
  std::cout << "1000 durable registrations over 8 pipelined connections: "
            << took.count() << " ms\n";
  // SIGKILL right after the last acknowledgement: no shutdown path runs.
  EXPECT_EQ(a.proc->stop(SIGKILL), 128 + SIGKILL);
  auto b = agent::start_durable(tmp.data(), {"--health-interval", "1h"});
  ASSERT_TRUE(b.proc);
  auto xs = instances_of(b, "bench");
  ASSERT_EQ(xs.size(), 1000u);
  std::map<std::string, json> by_id;
  for (auto& x : xs) by_id[x["id"].get<std::string>()] = x;
  for (int i = 0; i < 1000; ++i) {
    auto want = instance(i);
    auto it = by_id.find(want["id"].get<std::string>());
    ASSERT_NE(it, by_id.end()) << want["id"];
    auto& got = it->second;
    EXPECT_EQ(got["name"], want["name"]);
    EXPECT_EQ(got["port"], want["port"]);
    EXPECT_EQ(got["host"], want["host"]);
    EXPECT_EQ(got["version"], want["version"]);
    EXPECT_EQ(got["tags"], want["tags"]);
    EXPECT_EQ(got["metadata"], want["metadata"]);
  }
  EXPECT_NE(b.proc->out().find("recovered 1000 instances"), std::string::npos)
      << b.proc->out();
  EXPECT_EQ(b.proc->stop(SIGTERM), 0);
}

TEST(durability, deregistrations_and_updates_survive_kill_9) {
  temp_dir tmp;
  auto a = agent::start_durable(tmp.data());
  ASSERT_TRUE(a.proc);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(
        http(a.http(), "POST", "/api/services", instance(i).dump()).status,
        201u);
  auto registered = instances_of(a, "bench");
  ASSERT_EQ(registered.size(), 3u);
  ASSERT_EQ(http(a.http(), "DELETE", "/api/services/bench/bench-0").status,
            204u);
  auto update = instance(1);
  update["port"] = 7777;
  ASSERT_EQ(http(a.http(), "POST", "/api/services", update.dump()).status,
            201u);
  EXPECT_EQ(a.proc->stop(SIGKILL), 128 + SIGKILL);
  auto b = agent::start_durable(tmp.data());
  ASSERT_TRUE(b.proc);
  auto xs = instances_of(b, "bench");
  ASSERT_EQ(xs.size(), 2u);
  EXPECT_EQ(xs[0]["id"], "bench-1");
  EXPECT_EQ(xs[0]["port"], 7777);
  // The first registration's time survives the update and the restart.
  EXPECT_EQ(xs[0]["registeredAt"], registered[1]["registeredAt"]);
  EXPECT_EQ(xs[1]["id"], "bench-2");
  EXPECT_EQ(b.proc->stop(SIGTERM), 0);
}

TEST(durability, a_log_cut_in_its_last_record_recovers_the_rest) {
  temp_dir tmp;
  auto a = agent::start_durable(tmp.data(), {"--health-interval", "1h"});
  ASSERT_TRUE(a.proc);
  // One at a time, so the log's order is the registration order.
  for (int i = 0; i < 10; ++i)
    ASSERT_EQ(
        http(a.http(), "POST", "/api/services", instance(i).dump()).status,
        201u);
  EXPECT_EQ(a.proc->stop(SIGKILL), 128 + SIGKILL);
  auto log = log_file(tmp.data());
  ASSERT_FALSE(log.empty());
  auto size = fs::file_size(log);
  fs::resize_file(log, size - 5);
  auto b = agent::start_durable(tmp.data(), {"--health-interval", "1h"});
  ASSERT_TRUE(b.proc);
  EXPECT_TRUE(
      b.proc->wait_for(std::regex{R"(warn.*store: log .* cut \d+ bytes)"}, 1s))
      << b.proc->out() << b.proc->err();
  auto xs = instances_of(b, "bench");
  ASSERT_EQ(xs.size(), 9u);
  for (auto& x : xs) EXPECT_NE(x["id"], "bench-9");
  EXPECT_EQ(http(b.http(), "GET", "/health").status, 200u);
  // The node goes on writing after the cut.
  ASSERT_EQ(http(b.http(), "POST", "/api/services", instance(42).dump()).status,
            201u);
  EXPECT_EQ(b.proc->stop(SIGKILL), 128 + SIGKILL);
  auto c = agent::start_durable(tmp.data(), {"--health-interval", "1h"});
  ASSERT_TRUE(c.proc);
  EXPECT_EQ(instances_of(c, "bench").size(), 10u);
  EXPECT_EQ(c.proc->out().find("cut"), std::string::npos) << c.proc->out();
  EXPECT_EQ(c.proc->stop(SIGTERM), 0);
}

TEST(durability, a_second_agent_on_the_same_data_dir_exits_2) {
  temp_dir tmp;
  auto a = agent::start_durable(tmp.data());
  ASSERT_TRUE(a.proc);
  auto r = run_valmesh({"agent", "--http", "127.0.0.1:0", "--cluster",
                        "127.0.0.1:0", "--data-dir", tmp.data()});
  EXPECT_EQ(r.exit_code, 2);
  auto all = r.out + r.err;
  EXPECT_NE(all.find("is in use by another valmesh agent (pid " +
                     std::to_string(a.proc->pid()) + ")"),
            std::string::npos)
      << all;
  // The first one is unaffected.
  EXPECT_EQ(http(a.http(), "GET", "/health").status, 200u);
  EXPECT_EQ(a.proc->stop(SIGTERM), 0);
}

TEST(durability, config_services_are_not_duplicated_by_restarts) {
  temp_dir tmp;
  auto cfg = tmp.path + "/valmesh.json";
  {
    std::ofstream out{cfg};
    out << R"({"services": [{"name": "orders", "host": "127.0.0.1",
                             "port": 6000}]})";
  }
  for (int start = 0; start < 2; ++start) {
    auto a = agent::start_durable(tmp.data(), {"--config", cfg});
    ASSERT_TRUE(a.proc);
    auto xs = instances_of(a, "orders");
    ASSERT_EQ(xs.size(), 1u) << "start " << start << ": " << xs.dump();
    EXPECT_EQ(xs[0]["id"], "orders-127.0.0.1-6000");
    EXPECT_EQ(a.proc->stop(SIGTERM), 0);
  }
}

TEST(durability, dev_mode_writes_no_files) {
  temp_dir tmp;
  auto a = agent::start({"--data-dir", tmp.data()});
  ASSERT_TRUE(a.proc);
  ASSERT_EQ(http(a.http(), "POST", "/api/services", instance(1).dump()).status,
            201u);
  EXPECT_EQ(instances_of(a, "bench").size(), 1u);
  EXPECT_EQ(a.proc->stop(SIGTERM), 0);
  EXPECT_FALSE(fs::exists(tmp.data()));
  EXPECT_TRUE(fs::is_empty(tmp.path));
}
