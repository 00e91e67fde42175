#include "node/stat_cli.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "http/registry_client.hpp"
#include "node/cli.hpp"
#include "runtime/common/duration.hpp"

namespace valmesh {

namespace {

using json = nlohmann::json;

std::string success_text(const json& s) {
  if (!s["successRate"].is_number()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%",
                s["successRate"].get<double>() * 100);
  return buf;
}

std::string rps_text(const json& s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1frps", s.value("requestsPerSecond", 0.0));
  return buf;
}

std::string latency_text(const json& s, const char* q) {
  auto& v = s["latencyMs"][q];
  if (!v.is_number()) return "-";
  char buf[32];
  auto ms = v.get<double>();
  std::snprintf(buf, sizeof buf, ms < 10 ? "%.2fms" : "%.0fms", ms);
  return buf;
}

std::vector<std::string> row(const std::string& name, const json& s) {
  return {name,
          success_text(s),
          rps_text(s),
          latency_text(s, "p50"),
          latency_text(s, "p95"),
          latency_text(s, "p99"),
          std::to_string(s.value("requests", uint64_t{0}))};
}

/// The tables: one row per service; with a service, its instances below.
void print_stats(const json& j, bool per_instance) {
  std::vector<std::vector<std::string>> rows{{"NAME", "SUCCESS", "RPS",
                                              "LATENCY_P50", "LATENCY_P95",
                                              "LATENCY_P99", "REQUESTS"}};
  for (auto& s : j["services"]) rows.push_back(row(s.value("name", ""), s));
  print_table(rows);
  if (!per_instance) return;
  for (auto& s : j["services"]) {
    std::vector<std::vector<std::string>> xs{{"INSTANCE", "SUCCESS", "RPS",
                                              "LATENCY_P50", "LATENCY_P95",
                                              "LATENCY_P99", "REQUESTS"}};
    for (auto& x : s.value("instances", json::array()))
      xs.push_back(row(x.value("id", ""), x));
    std::cout << "\n";
    print_table(xs);
  }
}

}  // namespace

void add_stat_command(CLI::App& app, stat_command& c) {
  c.cmd = app.add_subcommand(
      "stat",
      "success rate, requests/s and latency of services (golden "
      "signals)");
  c.cmd->add_option("service", c.service, "one service, with its instances");
  c.cmd->add_option("--window", c.window,
                    "the window the figures cover, 1s to 1m (1m)");
  c.cmd->add_flag("--watch", c.watch, "redraw every second");
  c.cmd->add_option("--addr", c.addr,
                    "agent address (env VALMESH_HTTP_ADDR, default "
                    "http://127.0.0.1:8700)");
  c.cmd->add_option("--token", c.token, "bearer token (env VALMESH_TOKEN)");
  c.cmd->add_flag("--json", c.json, "print the raw JSON");
}

int run_stat_command(const stat_command& c) {
  auto usage = [](const std::string& m) {
    std::cerr << "valmesh: " << m << "\n";
    return exit_code::usage;
  };
  auto w = parse_duration(c.window);
  if (!w || w->count() % 1000 != 0 || *w < std::chrono::seconds{1} ||
      *w > std::chrono::minutes{1})
    return usage("--window must be whole seconds from 1s to 1m, such as 10s");
  std::string addr = c.addr;
  if (addr.empty()) {
    auto env = std::getenv("VALMESH_HTTP_ADDR");
    addr = env != nullptr && *env != '\0' ? env : "http://127.0.0.1:8700";
  }
  std::string token = c.token;
  if (token.empty())
    if (auto env = std::getenv("VALMESH_TOKEN")) token = env;
  auto ep = web::parse_http_addr(addr);
  if (!ep) return usage(ep.error().message);
  std::string target = "/api/stats?window=" + c.window;
  if (!c.service.empty())
    target += "&service=" + web::encode_path_segment(c.service);
  registry_client client{*ep, token};
  for (;;) {
    auto res = client.raw("GET", target);
    if (!res) {
      std::cerr << "valmesh: " << res.error().message << "\n";
      return exit_code::unreachable;
    }
    if (res->status != 200) {
      if (c.json) std::cout << res->body << "\n";
      auto fail = failure_from_response(*res);
      std::cerr << "valmesh: " << fail.message << " (" << to_string(fail.code)
                << ", HTTP " << res->status << ")\n";
      return exit_code::agent_error;
    }
    auto j = json::parse(res->body, nullptr, false);
    if (j.is_discarded() || !j["services"].is_array()) {
      std::cerr << "valmesh: the agent's answer is not a stats document\n";
      return exit_code::agent_error;
    }
    if (c.watch && !c.json) std::cout << "\033[H\033[2J";  // home, clear
    if (c.json)
      std::cout << j.dump(c.watch ? -1 : 2) << "\n";
    else
      print_stats(j, !c.service.empty());
    std::cout.flush();
    if (!c.watch) return exit_code::ok;
    std::this_thread::sleep_for(std::chrono::seconds{1});
  }
}

}  // namespace valmesh
