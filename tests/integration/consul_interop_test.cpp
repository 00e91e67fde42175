// Consul's own clients, written by others, against a valmesh node:
//  - the `consul` npm package (tests/consul/npm_client.js, pinned by
//    tests/consul/package-lock.json, installed by the `consul.npm_ci` test);
//  - Debian's python3-consul2 (tests/consul/python_client.py);
//  - Debian's VictoriaMetrics with consul_sd_configs pointed at the node:
//    it discovers valmesh-echo instances with Consul's meta labels, sees a
//    health change and drops a deregistered instance.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"

using namespace valmesh;
using namespace valmesh::test;
using json = nlohmann::json;

namespace {

const std::string dir = VALMESH_SOURCE_DIR "/tests/consul";

bool executable(const char* path) {
  return ::access(path, X_OK) == 0;
}

/// A free loopback port (for a program that cannot report its own).
uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

}  // namespace

TEST(consul_npm, registers_watches_and_deregisters_with_the_consul_package) {
  auto a = agent::start({"--node-name", "node-npm"});
  ASSERT_TRUE(a.proc);
  auto r = run({"/bin/sh", "-c", "exec node \"$0\" \"$1\"",
                dir + "/npm_client.js", std::to_string(a.http_port)},
               {{"NODE_PATH", VALMESH_CONSUL_DEPS "/node_modules"}}, 60s);
  std::cout << r.out;
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(
      r.out.find(
          R"({"step":"done","data":["critical","passing","warning","critical","gone"]})"),
      std::string::npos);
}

TEST(consul_python, registers_queries_with_an_index_and_deregisters) {
  if (!executable("/usr/bin/python3"))
    GTEST_SKIP() << "/usr/bin/python3 is missing (scripts/install-deps.sh "
                    "installs python3-consul2)";
  auto check = run({"/usr/bin/python3", "-c", "import consul"});
  ASSERT_EQ(check.exit_code, 0)
      << "python3-consul2 is missing (scripts/install-deps.sh installs it): "
      << check.err;
  auto a = agent::start();
  ASSERT_TRUE(a.proc);
  auto r = run({"/usr/bin/python3", dir + "/python_client.py",
                std::to_string(a.http_port)},
               {}, 60s);
  std::cout << r.out;
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("\nok\n"), std::string::npos);
}

TEST(consul_victoriametrics, discovers_echo_instances_through_consul_sd) {
  ASSERT_TRUE(executable("/usr/bin/victoria-metrics"))
      << "victoria-metrics is missing (scripts/install-deps.sh installs it)";
  auto a = agent::start({"--health-interval", "300ms"});
  ASSERT_TRUE(a.proc);
  auto e1 = echo::start("echo-1");
  auto e2 = echo::start("echo-2");
  ASSERT_TRUE(e1.proc && e2.proc);
  auto register_echo = [&](const echo& e, const std::string& id,
                           const std::string& tag) {
    auto port = std::to_string(e.port);
    return http(a.http(), "PUT", "/v1/agent/service/register",
                R"({"Name": "echo", "ID": ")" + id +
                    R"(", "Address": "127.0.0.1", "Port": )" + port +
                    R"(, "Tags": [")" + tag +
                    R"(", "demo"], "Check": {"HTTP": "http://127.0.0.1:)" +
                    port + R"(/health", "Interval": "1s"}})")
        .status;
  };
  ASSERT_EQ(register_echo(e1, "echo-1", "blue"), 200u);
  ASSERT_EQ(register_echo(e2, "echo-2", "green"), 200u);
  // VictoriaMetrics with consul_sd_configs pointed at the node.
  auto tmp = std::filesystem::temp_directory_path() /
             ("valmesh-vm-" + std::to_string(::getpid()));
  std::filesystem::create_directories(tmp);
  auto cfg = tmp / "scrape.yml";
  std::ofstream{cfg} << "scrape_configs:\n"
                        "  - job_name: valmesh\n"
                        "    scrape_interval: 1s\n"
                        "    metrics_path: /health\n"
                        "    consul_sd_configs:\n"
                        "      - server: 127.0.0.1:"
                     << a.http_port
                     << "\n"
                        "        services: [echo]\n"
                        // The meta labels become target labels, so a
                        // change of one (health) is a changed target.
                        "    relabel_configs:\n"
                        "      - source_labels: [__meta_consul_service_id]\n"
                        "        target_label: consul_service_id\n"
                        "      - source_labels: [__meta_consul_health]\n"
                        "        target_label: consul_health\n";
  auto vm_port = free_port();
  auto vm = process::start(
      {"/usr/bin/victoria-metrics", "-promscrape.config=" + cfg.string(),
       "-promscrape.consulSDCheckInterval=1s",
       "-httpListenAddr=127.0.0.1:" + std::to_string(vm_port),
       "-storageDataPath=" + (tmp / "data").string(), "-loggerLevel=ERROR"});
  ASSERT_TRUE(vm);
  endpoint vm_ep{"127.0.0.1", vm_port};
  // The targets as VictoriaMetrics sees them: instance id -> labels.
  auto targets = [&]() {
    std::map<std::string, json> out;
    web::client_request req;
    req.target = "/api/v1/targets";
    req.timeout = 2s;
    auto res = web::send_request(vm_ep, req);
    if (!res || res->status != 200) return out;
    auto j = json::parse(res->body, nullptr, false);
    if (!j.is_object()) return out;
    for (auto& t : j["data"]["activeTargets"]) {
      auto d = t["discoveredLabels"];
      if (!d.contains("__meta_consul_service_id")) continue;
      d["consul_health"] = t["labels"].value("consul_health", "");
      out[d["__meta_consul_service_id"].get<std::string>()] = d;
    }
    return out;
  };
  std::map<std::string, json> seen;
  ASSERT_TRUE(eventually(
      [&] {
        seen = targets();
        return seen.size() == 2 &&
               seen["echo-1"].value("consul_health", "") == "passing" &&
               seen["echo-2"].value("consul_health", "") == "passing";
      },
      30s))
      << json(seen).dump() << vm->out() << vm->err();
  EXPECT_EQ(seen["echo-1"]["__meta_consul_service"], "echo");
  EXPECT_EQ(seen["echo-1"]["__meta_consul_tags"], ",blue,demo,");
  EXPECT_EQ(seen["echo-2"]["__meta_consul_tags"], ",green,demo,");
  EXPECT_EQ(seen["echo-1"]["__meta_consul_dc"], "dc1");
  EXPECT_EQ(seen["echo-1"]["__address__"],
            "127.0.0.1:" + std::to_string(e1.port));
  std::cout << "discovered: " << json(seen).dump() << "\n";
  // A health change: echo-2's /health fails, the node's check turns it
  // critical, and VictoriaMetrics' label follows.
  ASSERT_EQ(http({"127.0.0.1", e2.port}, "POST", "/control",
                 R"({"healthStatus": 500})")
                .status,
            200u);
  EXPECT_TRUE(eventually(
      [&] {
        seen = targets();
        return seen.count("echo-2") &&
               seen["echo-2"].value("__meta_consul_health", "") == "critical" &&
               seen["echo-2"].value("consul_health", "") == "critical";
      },
      30s))
      << json(seen).dump();
  // A deregistered instance is dropped.
  ASSERT_EQ(http(a.http(), "PUT", "/v1/agent/service/deregister/echo-1").status,
            200u);
  EXPECT_TRUE(eventually(
      [&] {
        seen = targets();
        return seen.size() == 1 && seen.count("echo-2");
      },
      30s))
      << json(seen).dump();
  vm->stop(SIGTERM);
  std::filesystem::remove_all(tmp);
}
