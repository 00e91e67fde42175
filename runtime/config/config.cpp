#include "runtime/config/config.hpp"

#include <fstream>
#include <sstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "runtime/common/duration.hpp"
#include "runtime/config/config_read.hpp"

namespace valmesh {

namespace {

using json = nlohmann::json;
using namespace config_read;

std::optional<failure> read_endpoint(const json& v, const std::string& key,
                                     endpoint& out) {
  if (!v.is_string())
    return bad(key, "must be a string like \"127.0.0.1:8700\"");
  auto ep = parse_endpoint(v.get<std::string>());
  if (!ep) return bad(key, ep.error().message);
  out = *ep;
  return std::nullopt;
}

std::optional<failure> read_service_health(const json& v, health_config& h) {
  if (!v.is_object()) return bad("health.services", "must be an object");
  for (auto& [name, o] : v.items()) {
    auto base = "health.services." + name;
    if (!valid_service_name(name)) return bad(base, "is not a service name");
    if (!o.is_object()) return bad(base, "must be an object");
    service_health_config s;
    for (auto& [k, x] : o.items()) {
      auto key = base + "." + k;
      std::optional<failure> e;
      std::chrono::milliseconds d{0};
      if (k == "interval" || k == "timeout") {
        e = read_duration(x, key, d);
        if (!e && d.count() <= 0) e = bad(key, "must be longer than 0ms");
        if (!e) (k == "interval" ? s.interval : s.timeout) = d;
      } else if (k == "critical") {
        e = read_bool(x, key, s.critical);
      } else {
        e = bad(key, "unknown key");
      }
      if (e) return e;
    }
    h.services[name] = s;
  }
  return std::nullopt;
}

std::optional<failure> read_health(const json& v, health_config& h) {
  if (!v.is_object()) return bad("health", "must be an object");
  for (auto& [k, x] : v.items()) {
    auto key = "health." + k;
    std::optional<failure> e;
    if (k == "interval")
      e = read_duration(x, key, h.interval);
    else if (k == "timeout")
      e = read_duration(x, key, h.timeout);
    else if (k == "failuresBeforeCritical")
      e = read_uint(x, key, 1, 1000, h.failures_before_critical);
    else if (k == "successBeforePassing")
      e = read_uint(x, key, 1, 1000, h.success_before_passing);
    else if (k == "deregisterCriticalAfter")
      e = read_duration(x, key, h.deregister_critical_after);
    else if (k == "services")
      e = read_service_health(x, h);
    else
      e = bad(key, "unknown key");
    if (e) return e;
  }
  return std::nullopt;
}

}  // namespace

std::string endpoint::to_string() const {
  if (host.find(':') != std::string::npos)
    return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

expected<endpoint> parse_endpoint(std::string_view text) {
  auto fail = [&] {
    return failure{
        errc::invalid_argument,
        "'" + std::string{text} + "' is not an address of the form HOST:PORT"};
  };
  std::string_view host, port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() ||
        text[close + 1] != ':')
      return fail();
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail();
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return fail();
  }
  if (host.empty() || port.empty() || port.size() > 5) return fail();
  uint32_t p = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return fail();
    p = p * 10 + static_cast<uint32_t>(c - '0');
  }
  if (p > 65535) return fail();
  return endpoint{std::string{host}, static_cast<uint16_t>(p)};
}

node_config default_config() {
  node_config cfg;
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) == 0 && buf[0] != '\0')
    cfg.node_name = buf;
  else
    cfg.node_name = "valmesh";
  return cfg;
}

expected<node_config> validate_config(node_config cfg) {
  static constexpr const char* levels[] = {"trace", "debug",    "info", "warn",
                                           "error", "critical", "off"};
  bool level_ok = false;
  for (auto* l : levels) level_ok = level_ok || cfg.log_level == l;
  if (!level_ok)
    return bad("log_level",
               "must be one of trace, debug, info, warn, error, critical, off");
  if (cfg.log_format != "text" && cfg.log_format != "json")
    return bad("log_format", "must be \"text\" or \"json\"");
  if (cfg.node_name.empty() || cfg.node_name.size() > 128)
    return bad("node_name", "must be 1 to 128 characters");
  if (cfg.http_threads < 1 || cfg.http_threads > 64)
    return bad("http_threads", "must be between 1 and 64");
  if (cfg.actor_threads < 1 || cfg.actor_threads > 64)
    return bad("actor_threads", "must be between 1 and 64");
  if (cfg.actor_scheduler != "sharing" && cfg.actor_scheduler != "stealing")
    return bad("actor_scheduler", "must be \"sharing\" or \"stealing\"");
  if (cfg.http_read_timeout.count() <= 0)
    return bad("http_read_timeout", "must be longer than 0ms");
  if (cfg.http_body_limit < 1024)
    return bad("http_body_limit", "must be at least 1024 bytes");
  if (cfg.mesh_dispatch != "direct" && cfg.mesh_dispatch != "actor")
    return bad("mesh_dispatch", "must be direct or actor");
  if (cfg.health.interval.count() <= 0)
    return bad("health.interval", "must be longer than 0ms");
  if (cfg.health.timeout.count() <= 0)
    return bad("health.timeout", "must be longer than 0ms");
  if (auto f = validate_tracing(cfg.tracing)) return *f;
  {
    int tls = !cfg.cluster_tls_cert.empty() + !cfg.cluster_tls_key.empty() +
              !cfg.cluster_tls_ca.empty();
    if (tls != 0 && tls != 3)
      return bad("cluster_tls_cert",
                 "TLS between nodes needs all three of cluster_tls_cert, "
                 "cluster_tls_key and cluster_tls_ca");
  }
  return cfg;
}

expected<node_config> parse_config(const json& j, node_config cfg) {
  if (!j.is_object())
    return failure{errc::invalid_argument,
                   "the config file must hold a JSON object"};
  for (auto& [k, v] : j.items()) {
    std::optional<failure> e;
    if (k == "node_name")
      e = read_string(v, k, cfg.node_name);
    else if (k == "http")
      e = read_endpoint(v, k, cfg.http);
    else if (k == "cluster")
      e = read_endpoint(v, k, cfg.cluster);
    else if (k == "consul_http") {
      endpoint ep;
      if (v.is_null())
        cfg.consul_http.reset();
      else if (!(e = read_endpoint(v, k, ep)))
        cfg.consul_http = ep;
    } else if (k == "join") {
      if (!v.is_array()) {
        e = bad(k, "must be an array of \"HOST:PORT\" strings");
      } else {
        cfg.join.clear();
        for (auto& x : v) {
          endpoint ep;
          if ((e = read_endpoint(x, k, ep))) break;
          cfg.join.push_back(ep);
        }
      }
    } else if (k == "cluster_secret")
      e = read_string(v, k, cfg.cluster_secret);
    else if (k == "cluster_tls_cert")
      e = read_string(v, k, cfg.cluster_tls_cert);
    else if (k == "cluster_tls_key")
      e = read_string(v, k, cfg.cluster_tls_key);
    else if (k == "cluster_tls_ca")
      e = read_string(v, k, cfg.cluster_tls_ca);
    else if (k == "data_dir")
      e = read_string(v, k, cfg.data_dir);
    else if (k == "dev")
      e = read_bool(v, k, cfg.dev);
    else if (k == "token")
      e = read_string(v, k, cfg.token);
    else if (k == "health_interval")
      e = read_duration(v, k, cfg.health.interval);
    else if (k == "health")
      e = read_health(v, cfg.health);
    else if (k == "log_level")
      e = read_string(v, k, cfg.log_level);
    else if (k == "log_format")
      e = read_string(v, k, cfg.log_format);
    else if (k == "drain_timeout")
      e = read_duration(v, k, cfg.drain_timeout);
    else if (k == "enable_fault_injection")
      e = read_bool(v, k, cfg.enable_fault_injection);
    else if (k == "http_threads")
      e = read_uint(v, k, 1, 64, cfg.http_threads);
    else if (k == "actor_threads")
      e = read_uint(v, k, 1, 64, cfg.actor_threads);
    else if (k == "http_read_timeout")
      e = read_duration(v, k, cfg.http_read_timeout);
    else if (k == "events_keepalive") {
      e = read_duration(v, k, cfg.events_keepalive);
      if (!e && cfg.events_keepalive.count() <= 0)
        e = bad(k, "must be longer than 0ms");
    } else if (k == "events_queue_limit") {
      e = read_uint(v, k, 1, 1'000'000, cfg.events_queue_limit);
    } else if (k == "events_max_streams") {
      e = read_uint(v, k, 1, 1'000'000, cfg.events_max_streams);
    } else if (k == "max_blocking_queries") {
      e = read_uint(v, k, 1, 1'000'000, cfg.max_blocking_queries);
    } else if (k == "max_connections") {
      e = read_uint(v, k, 0, 10'000'000, cfg.max_connections);
    } else if (k == "http_body_limit")
      e = read_uint(v, k, 1024, uint64_t{1} << 32, cfg.http_body_limit);
    else if (k == "upstream_response_limit")
      e = read_uint(v, k, 1024, uint64_t{1} << 34, cfg.upstream_response_limit);
    else if (k == "upstream_connect_timeout") {
      e = read_duration(v, k, cfg.upstream_connect_timeout);
      if (!e && cfg.upstream_connect_timeout.count() <= 0)
        e = bad(k, "must be longer than 0ms");
    } else if (k == "mesh_dispatch")
      e = read_string(v, k, cfg.mesh_dispatch);
    else if (k == "mesh_metrics")
      e = read_bool(v, k, cfg.mesh_metrics);
    else if (k == "tracing")
      e = read_tracing(v, cfg.tracing);
    else if (k == "policies")
      e = read_policies(v, cfg.policies);
    else if (k == "services") {
      if (!v.is_array()) {
        e = bad(k, "must be an array of service instances");
      } else {
        cfg.services.clear();
        for (size_t i = 0; i < v.size(); ++i) {
          auto x = parse_instance(v[i]);
          if (!x) {
            e = bad("services[" + std::to_string(i) + "]", x.error().message);
            break;
          }
          cfg.services.push_back(std::move(*x));
        }
      }
    } else
      e = bad(k, "unknown key");
    if (e) return *e;
  }
  return validate_config(std::move(cfg));
}

expected<node_config> load_config_file(const std::string& path,
                                       node_config base) {
  std::ifstream in{path};
  if (!in)
    return failure{errc::invalid_argument,
                   "cannot read config file '" + path + "'"};
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded())
    return failure{errc::invalid_argument,
                   "config file '" + path + "' is not valid JSON"};
  return parse_config(j, std::move(base));
}

}  // namespace valmesh
