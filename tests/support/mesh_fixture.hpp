#pragma once

// Fixtures shared by the integration tests that run the mesh: an agent with
// `valmesh-echo` instances registered as one service, waiting until the
// mesh sees them passing.

#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"

namespace valmesh::test {

using steady = std::chrono::steady_clock;

inline std::string write_config(const std::string& name,
                                const nlohmann::json& cfg) {
  // One file per test process: ctest runs tests in parallel.
  auto path = ::testing::TempDir() + "/" + name + "-" +
              std::to_string(::getpid()) + ".json";
  std::ofstream{path} << cfg.dump();
  return path;
}

inline void control(const echo& e, const nlohmann::json& body) {
  ASSERT_EQ(http({"127.0.0.1", e.port}, "POST", "/control", body.dump()).status,
            200u);
}

/// An agent with `policies` and the echoes registered as `service`; waits
/// until the mesh sees every instance passing.
struct mesh_fixture {
  agent node;
  std::vector<echo> echoes;

  static mesh_fixture start(const std::string& service, size_t n,
                            nlohmann::json policies = nlohmann::json::object(),
                            std::vector<std::string> flags = {}) {
    mesh_fixture f;
    for (size_t i = 0; i < n; ++i)
      f.echoes.push_back(echo::start("e" + std::to_string(i)));
    nlohmann::json services = nlohmann::json::array();
    for (size_t i = 0; i < n; ++i)
      services.push_back({{"name", service},
                          {"id", service + "-" + std::to_string(i)},
                          {"host", "127.0.0.1"},
                          {"port", f.echoes[i].port}});
    auto path = write_config(
        service, {{"services", services}, {"policies", std::move(policies)}});
    flags.insert(flags.end(), {"--config", path, "--health-interval", "1s"});
    f.node = agent::start(flags);
    EXPECT_TRUE(eventually(
        [&] {
          auto j = parse(http(f.node.http(), "GET", "/api/mesh"));
          for (auto& s : j["services"])
            if (s["name"] == service) {
              size_t passing = 0;
              for (auto& x : s["instances"])
                passing += x["status"] == "passing";
              return passing == n;
            }
          return false;
        },
        10s))
        << "the instances never turned passing";
    return f;
  }

  /// Waits until the (only) service's bulkhead has `n` calls in flight.
  bool await_in_flight(int n) const {
    return eventually([&] {
      auto j = parse(http(node.http(), "GET", "/api/mesh"));
      return j["services"][0]["inFlight"] == n;
    });
  }
};

inline std::string header(const web::client_response& r,
                          const std::string& name) {
  auto i = r.headers.find(name);
  return i == r.headers.end() ? std::string{} : i->second;
}

inline std::string error_code(const web::client_response& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.contains("error")) return {};
  return j["error"]["code"];
}

}  // namespace valmesh::test
