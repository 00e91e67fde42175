// README.md's option tables against the code: every default a table states
// must be the default member initialiser it describes (node_config,
// health_config, call_policy, tracing_config), every option the code has in
// those tables must have a row, and every config key a row names must be one
// the config parser takes, with the stated default as its value.

#include <chrono>
#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "runtime/config/config.hpp"
#include "runtime/mesh/mesh_policy.hpp"
#include "runtime/mesh/retry.hpp"
#include "runtime/registry/load_balancer.hpp"

using namespace valmesh;
using json = nlohmann::json;

namespace {

/// A default as the README writes it, and as a config file would set it.
struct stated {
  std::string text;  ///< the README's default cell, backticks removed
  json value;        ///< the same as a config value; null: none to set
};

/// Durations as the README writes them: whole seconds as `Ns`, else `Nms`.
template <class Rep, class Period>
stated duration(std::chrono::duration<Rep, Period> d) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  auto t = ms % 1000 == 0 ? std::to_string(ms / 1000) + "s"
                          : std::to_string(ms) + "ms";
  return {t, t};
}

template <class D>
stated duration(const std::optional<D>& d) {
  return d ? duration(*d) : stated{"none", nullptr};
}

stated number(uint64_t n) {
  return {std::to_string(n), n};
}

stated real(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", x);
  return {buf, x};
}

stated boolean(bool b) {
  return {b ? "true" : "false", b};
}

stated text(const std::string& s) {
  return s.empty() ? stated{"none", nullptr} : stated{s, s};
}

/// A default that only a flag sets, or that the README describes in words.
stated words(std::string s) {
  return {std::move(s), nullptr};
}

/// A row that points to another table ("see ...").
const stated see{"see", nullptr};

/// The name among `names` that `parse` reads as `x`.
template <class E, class Parse>
std::string name_of(E x, Parse parse,
                    std::initializer_list<const char*> names) {
  for (auto* n : names)
    if (parse(n) == x) return n;
  return "(no name for this value)";
}

std::string read_readme() {
  std::ifstream in{std::string{VALMESH_SOURCE_DIR} + "/README.md"};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trim(std::string s) {
  std::string out;
  for (char c : s)
    if (c != '`') out += c;
  auto b = out.find_first_not_of(' ');
  auto e = out.find_last_not_of(' ');
  return b == std::string::npos ? std::string{} : out.substr(b, e - b + 1);
}

using row = std::vector<std::string>;

/// The body rows of the first table after the line `heading` (in the same
/// section), each as its cells without backticks.
std::vector<row> table_after(const std::string& readme,
                             const std::string& heading) {
  std::istringstream in{readme};
  std::string line;
  bool found = false;
  bool in_table = false;
  std::vector<row> rows;
  while (std::getline(in, line)) {
    if (!found) {
      found = line == heading;
      continue;
    }
    if (line.rfind('|', 0) == 0) {
      in_table = true;
      row r;
      size_t from = 1;
      for (auto bar = line.find('|', from); bar != std::string::npos;
           bar = line.find('|', from)) {
        r.push_back(trim(line.substr(from, bar - from)));
        from = bar + 1;
      }
      rows.push_back(std::move(r));
    } else if (in_table || line.rfind("## ", 0) == 0) {
      break;
    }
  }
  if (rows.size() < 2) return {};
  return {rows.begin() + 2, rows.end()};  // no header, no separator
}

/// Sets the dotted `key` (`tracing.sampler`) to `value` in `j`.
void set_path(json& j, const std::string& key, const json& value) {
  json* at = &j;
  size_t from = 0;
  for (auto dot = key.find('.'); dot != std::string::npos;
       dot = key.find('.', from)) {
    at = &(*at)[key.substr(from, dot - from)];
    from = dot + 1;
  }
  (*at)[key.substr(from)] = value;
}

/// Compares a README table with `expected` (key → stated default).
/// `key_of` picks a row's key, `prefix` is where its keys sit in a config
/// file (`health.`); `default_column` holds the default.
template <class KeyOf>
void check_table(const std::string& heading, KeyOf key_of,
                 size_t default_column, const std::string& prefix,
                 const std::map<std::string, stated>& expected) {
  auto rows = table_after(read_readme(), heading);
  ASSERT_FALSE(rows.empty())
      << "README.md has no table under '" << heading << "'";
  std::set<std::string> seen;
  for (auto& r : rows) {
    ASSERT_GT(r.size(), default_column)
        << heading << ": a row with too few cells";
    auto key = key_of(r);
    auto i = expected.find(key);
    if (i == expected.end()) {
      ADD_FAILURE() << heading << ": the README has a row '" << key
                    << "' that this test does not know; add its default here";
      continue;
    }
    seen.insert(key);
    auto& got = r[default_column];
    auto& want = i->second;
    if (want.text == "see")
      EXPECT_EQ(got.rfind("see ", 0), 0u)
          << heading << ": '" << key << "' should point to its own table";
    else
      EXPECT_EQ(got, want.text)
          << heading << ": the README states '" << got << "' as the default "
          << "of '" << key << "', the code's default is '" << want.text << "'";
    if (!want.value.is_null()) {
      json j = json::object();
      set_path(j, prefix + key, want.value);
      auto cfg = parse_config(j);
      EXPECT_TRUE(cfg) << heading << ": the config file does not take " << j
                       << ": " << (cfg ? "" : cfg.error().message);
    }
  }
  for (auto& [key, _] : expected)
    EXPECT_TRUE(seen.count(key))
        << heading << ": the README has no row for '" << key << "'";
}

}  // namespace

TEST(readme_defaults, agent_table_states_node_config_defaults) {
  node_config c;
  auto& t = c.tracing;
  EXPECT_TRUE(c.node_name.empty()) << "default_config() sets the host name";
  EXPECT_TRUE(c.join.empty());
  EXPECT_TRUE(c.services.empty());
  std::map<std::string, stated> expected{
      {"--config", words("none")},
      {"node_name", words("host name")},
      {"http", text(c.http.to_string())},
      {"cluster", text(c.cluster.to_string())},
      {"consul_http", words("none")},
      {"join", words("none")},
      {"cluster_secret", text(c.cluster_secret)},
      {"--cluster-secret-file", words("none")},  // a flag only
      {"cluster_tls_cert", text(c.cluster_tls_cert)},
      {"cluster_tls_key", text(c.cluster_tls_key)},
      {"cluster_tls_ca", text(c.cluster_tls_ca)},
      {"data_dir", text(c.data_dir)},
      {"dev", boolean(c.dev)},
      {"token", text(c.token)},
      {"health_interval", duration(c.health.interval)},
      {"log_level", text(c.log_level)},
      {"log_format", text(c.log_format)},
      {"drain_timeout", duration(c.drain_timeout)},
      {"enable_fault_injection", boolean(c.enable_fault_injection)},
      {"http_threads", number(c.http_threads)},
      {"actor_threads", number(c.actor_threads)},
      {"--actor-scheduler", words(c.actor_scheduler)},  // a flag only
      {"http_read_timeout", duration(c.http_read_timeout)},
      {"http_body_limit", number(c.http_body_limit)},
      {"events_keepalive", duration(c.events_keepalive)},
      {"events_queue_limit", number(c.events_queue_limit)},
      {"events_max_streams", number(c.events_max_streams)},
      {"max_blocking_queries", number(c.max_blocking_queries)},
      {"max_connections", {"from the fd limit", 0}},
      {"health", see},
      {"mesh_dispatch", text(c.mesh_dispatch)},
      {"mesh_metrics", boolean(c.mesh_metrics)},
      {"policies", see},
      {"upstream_response_limit", number(c.upstream_response_limit)},
      {"upstream_connect_timeout", duration(c.upstream_connect_timeout)},
      {"services", words("none")},
      {"tracing.enabled", boolean(t.enabled)},
      {"tracing.sampler", text(t.sampler)},
      {"tracing.bufferCapacity", number(t.buffer_capacity)},
      {"tracing.otlpEndpoint", text(t.otlp_endpoint)},
      {"tracing.exportBatchSize", number(t.exporter.batch_size)},
      {"tracing.exportInterval", duration(t.exporter.interval)},
      {"tracing.exportQueueSize", number(t.exporter.queue_size)},
      {"tracing.exportMaxRetries", number(t.exporter.max_retries)},
      {"tracing.exportTimeout", duration(t.exporter.timeout)},
  };
  // Columns: flag, config key, default, meaning. A row without a config key
  // is known by its flag.
  auto key_of = [](const row& r) {
    if (!r.at(1).empty()) return r[1];
    return r.at(0).substr(0, r[0].find(' '));
  };
  check_table("## The agent", key_of, 2, "", expected);
}

TEST(readme_defaults, health_table_states_health_config_defaults) {
  health_config h;
  EXPECT_TRUE(h.services.empty());
  std::map<std::string, stated> expected{
      {"interval", duration(h.interval)},
      {"timeout", duration(h.timeout)},
      {"failuresBeforeCritical", number(h.failures_before_critical)},
      {"successBeforePassing", number(h.success_before_passing)},
      {"deregisterCriticalAfter", duration(h.deregister_critical_after)},
      {"services.NAME", words("none")},
  };
  // Columns: key (under `health`), default, meaning.
  check_table(
      "## Health checks", [](const row& r) { return r.at(0); }, 1, "health.",
      expected);
}

TEST(readme_defaults, mesh_table_states_call_policy_defaults) {
  call_policy p;
  auto& b = p.breaker;
  std::map<std::string, stated> expected{
      {"timeout", duration(p.timeout)},
      {"perTryTimeout", duration(p.per_try_timeout)},
      {"retries", number(p.retries)},
      {"backoff", text(name_of(p.backoff.kind, parse_backoff,
                               {"fixed", "linear", "exponential"}))},
      {"retryDelay", duration(p.backoff.base)},
      {"maxDelay", duration(p.backoff.max)},
      {"jitter", text(name_of(p.backoff.jitter, parse_jitter,
                              {"none", "full", "equal", "decorrelated"}))},
      {"retryNonIdempotent", boolean(p.retry_non_idempotent)},
      {"retryBudget.ratio", real(p.retry_budget_ratio)},
      {"retryBudget.minPerSecond", number(p.retry_budget_min_per_second)},
      {"failureRateThreshold", real(b.failure_rate_threshold)},
      {"slowCallThreshold", duration(b.slow_call_threshold)},
      {"slowCallRateThreshold", real(b.slow_call_rate_threshold)},
      {"windowSize", number(b.window_size)},
      {"minimumCalls", number(b.minimum_calls)},
      {"openDuration", duration(b.open_duration)},
      {"halfOpenCalls", number(b.half_open_calls)},
      {"maxConcurrent", number(p.bulkhead.max_concurrent)},
      {"maxQueue", number(p.bulkhead.max_queue)},
      {"queueTimeout", duration(p.bulkhead.queue_timeout)},
      {"strategy", text(std::string{to_string(p.strategy)})},
  };
  // Columns: key (under `policies.<service>`), default, meaning.
  check_table(
      "## The mesh", [](const row& r) { return r.at(0); }, 1, "policies.*.",
      expected);
}
