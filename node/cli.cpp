#include "node/cli.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <boost/version.hpp>
#include <caf/config.hpp>
#include <nlohmann/json.hpp>

#include "http/registry_client.hpp"
#include "node/node.hpp"
#include "node/spans_cli.hpp"
#include "node/stat_cli.hpp"
#include "runtime/common/duration.hpp"
#include "runtime/common/logging.hpp"
#include "runtime/common/version.hpp"
#include "runtime/config/config.hpp"

namespace valmesh {

namespace {

using json = nlohmann::json;

// -- agent --------------------------------------------------------------------

/// Flags of `valmesh agent`, as given; unset ones leave the config alone.
struct agent_flags {
  std::string config_file, node_name, http, consul_http, cluster, data_dir,
      token, health_interval, log_level, log_format, drain_timeout,
      http_read_timeout, actor_scheduler, mesh_dispatch, trace_sampler,
      otlp_endpoint, cluster_secret, cluster_secret_file, cluster_tls_cert,
      cluster_tls_key, cluster_tls_ca;
  std::vector<std::string> join;
  bool no_tracing = false;
  bool no_mesh_metrics = false;
  uint64_t trace_buffer = 0;
  bool dev = false, fault_injection = false;
  uint32_t http_threads = 0, actor_threads = 0, max_connections = 0;
};

int usage_error(const std::string& message) {
  std::cerr << "valmesh: " << message << "\n";
  return exit_code::usage;
}

/// Builds the config: defaults, then the file, then the flags given.
expected<node_config> agent_config(const agent_flags& f, CLI::App& cmd) {
  auto cfg = default_config();
  if (!f.config_file.empty()) {
    auto loaded = load_config_file(f.config_file, cfg);
    if (!loaded) return loaded;
    cfg = std::move(*loaded);
  }
  auto given = [&](const char* name) { return cmd.count(name) > 0; };
  auto endpoint_flag = [&](const char* name, const std::string& v,
                           endpoint& out) -> std::optional<failure> {
    auto ep = parse_endpoint(v);
    if (!ep)
      return failure{errc::invalid_argument,
                     std::string{name} + ": " + ep.error().message};
    out = *ep;
    return std::nullopt;
  };
  auto duration_flag =
      [&](const char* name, const std::string& v,
          std::chrono::milliseconds& out) -> std::optional<failure> {
    auto d = parse_duration(v);
    if (!d)
      return failure{errc::invalid_argument,
                     std::string{name} + ": '" + v +
                         "' is not a duration (use 250ms, 5s, 2m, 1h)"};
    out = *d;
    return std::nullopt;
  };
  std::optional<failure> e;
  if (given("--node-name")) cfg.node_name = f.node_name;
  if (!e && given("--http")) e = endpoint_flag("--http", f.http, cfg.http);
  if (!e && given("--consul-http")) {
    endpoint ep;
    if (!(e = endpoint_flag("--consul-http", f.consul_http, ep)))
      cfg.consul_http = ep;
  }
  if (!e && given("--cluster"))
    e = endpoint_flag("--cluster", f.cluster, cfg.cluster);
  if (!e && given("--join")) {
    cfg.join.clear();
    for (auto& j : f.join) {
      endpoint ep;
      if ((e = endpoint_flag("--join", j, ep))) break;
      cfg.join.push_back(ep);
    }
  }
  if (given("--data-dir")) cfg.data_dir = f.data_dir;
  if (given("--dev")) cfg.dev = true;
  if (given("--token")) cfg.token = f.token;
  if (!e && given("--health-interval"))
    e = duration_flag("--health-interval", f.health_interval,
                      cfg.health.interval);
  if (given("--cluster-secret")) cfg.cluster_secret = f.cluster_secret;
  if (!e && given("--cluster-secret-file")) {
    std::ifstream in{f.cluster_secret_file};
    std::stringstream buf;
    buf << in.rdbuf();
    auto secret = buf.str();
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r'))
      secret.pop_back();
    if (!in || secret.empty())
      e = failure{errc::invalid_argument,
                  "--cluster-secret-file: cannot read a secret from '" +
                      f.cluster_secret_file + "'"};
    else
      cfg.cluster_secret = std::move(secret);
  }
  if (given("--cluster-tls-cert")) cfg.cluster_tls_cert = f.cluster_tls_cert;
  if (given("--cluster-tls-key")) cfg.cluster_tls_key = f.cluster_tls_key;
  if (given("--cluster-tls-ca")) cfg.cluster_tls_ca = f.cluster_tls_ca;
  if (given("--log-level")) cfg.log_level = f.log_level;
  if (given("--log-format")) cfg.log_format = f.log_format;
  if (!e && given("--drain-timeout"))
    e = duration_flag("--drain-timeout", f.drain_timeout, cfg.drain_timeout);
  if (!e && given("--http-read-timeout"))
    e = duration_flag("--http-read-timeout", f.http_read_timeout,
                      cfg.http_read_timeout);
  if (given("--enable-fault-injection")) cfg.enable_fault_injection = true;
  if (given("--http-threads")) cfg.http_threads = f.http_threads;
  if (given("--actor-threads")) cfg.actor_threads = f.actor_threads;
  if (given("--max-connections")) cfg.max_connections = f.max_connections;
  if (given("--actor-scheduler")) cfg.actor_scheduler = f.actor_scheduler;
  if (given("--mesh-dispatch")) cfg.mesh_dispatch = f.mesh_dispatch;
  if (given("--trace-sampler")) cfg.tracing.sampler = f.trace_sampler;
  if (given("--otlp-endpoint")) cfg.tracing.otlp_endpoint = f.otlp_endpoint;
  if (given("--trace-buffer")) cfg.tracing.buffer_capacity = f.trace_buffer;
  if (given("--no-tracing")) cfg.tracing.enabled = false;
  if (given("--no-mesh-metrics")) cfg.mesh_metrics = false;
  if (e) return *e;
  return validate_config(std::move(cfg));
}

int run_agent(const agent_flags& flags, CLI::App& cmd) {
  auto cfg = agent_config(flags, cmd);
  if (!cfg) return usage_error(cfg.error().message);
  setup_logging(cfg->log_level, cfg->log_format);
  // Block the stop signals in every thread; the main thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);  // internal: the supervision tree gave up
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  node n{*cfg};
  auto main_thread = pthread_self();
  n.on_fatal([main_thread](const std::string& why) {
    spdlog::critical("node_supervisor gave up after {}; stopping the node",
                     why);
    pthread_kill(main_thread, SIGUSR1);
  });
  if (auto err = n.start()) {
    spdlog::error("cannot start: {}", err->message);
    n.stop();
    return err->code == errc::invalid_argument ? exit_code::usage
                                               : exit_code::agent_error;
  }
  spdlog::info("valmesh agent started: node={} http={} cluster={} services={}",
               cfg->node_name,
               endpoint{cfg->http.host, n.http_port()}.to_string(),
               endpoint{cfg->cluster.host, n.cluster_port()}.to_string(),
               cfg->services.size());
  int sig = 0;
  sigwait(&signals, &sig);
  if (sig == SIGUSR1) {
    n.stop();
    spdlog::info("valmesh agent stopped after a fatal failure");
    return exit_code::agent_error;
  }
  // A second signal ends the process at once.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  pthread_sigmask(SIG_UNBLOCK, &stop_signals, nullptr);
  spdlog::info("received {}, draining (up to {})",
               sig == SIGINT ? "SIGINT" : "SIGTERM",
               format_duration(cfg->drain_timeout));
  n.drain(cfg->drain_timeout);
  n.stop();
  spdlog::info("valmesh agent stopped");
  return exit_code::ok;
}

// -- client commands ----------------------------------------------------------

struct client_flags {
  std::string addr;
  std::string token;
  bool json = false;
};

expected<registry_client> make_client(const client_flags& f) {
  std::string addr = f.addr;
  if (addr.empty()) {
    auto env = std::getenv("VALMESH_HTTP_ADDR");
    addr = env != nullptr && *env != '\0' ? env : "http://127.0.0.1:8700";
  }
  std::string token = f.token;
  if (token.empty()) {
    auto env = std::getenv("VALMESH_TOKEN");
    if (env != nullptr) token = env;
  }
  auto ep = web::parse_http_addr(addr);
  if (!ep) return std::move(ep).error();
  return registry_client{*ep, token};
}

/// Runs one request; prints the JSON with --json, else calls `table`.
/// `seen`, when given, is called with the answer in both output modes
/// (for exit codes that depend on it).
int client_call(const client_flags& f, const std::string& method,
                const std::string& target, std::string body, unsigned ok,
                const std::function<void(const json&)>& table,
                const std::function<void(const json&)>& seen = {}) {
  auto client = make_client(f);
  if (!client) return usage_error(client.error().message);
  auto res = client->raw(method, target, std::move(body));
  if (!res) {
    std::cerr << "valmesh: " << res.error().message << "\n";
    return exit_code::unreachable;
  }
  if (res->status != ok) {
    if (f.json) std::cout << res->body << "\n";
    auto fail = failure_from_response(*res);
    std::cerr << "valmesh: " << fail.message << " (" << to_string(fail.code)
              << ", HTTP " << res->status << ")\n";
    return exit_code::agent_error;
  }
  auto j = res->body.empty() ? json{} : json::parse(res->body, nullptr, false);
  if (seen && !j.is_discarded()) seen(j);
  if (f.json) {
    std::cout << (j.is_discarded() ? res->body : j.dump(2)) << "\n";
  } else {
    table(j);
  }
  return exit_code::ok;
}

std::string join(const std::vector<std::string>& xs, const char* sep = ",") {
  std::string out;
  for (auto& x : xs) {
    if (!out.empty()) out += sep;
    out += x;
  }
  return out;
}

void print_instances(const json& j) {
  std::vector<std::vector<std::string>> rows{
      {"ID", "ADDRESS", "STATUS", "VERSION", "WEIGHT", "NODE", "TAGS"}};
  for (auto& x : j["instances"])
    rows.push_back(
        {x.value("id", ""),
         x.value("host", "") + ":" + std::to_string(x.value("port", 0)),
         x.value("status", ""), x.value("version", ""),
         std::to_string(x.value("weight", 1)), x.value("node", ""),
         join(x.value("tags", std::vector<std::string>{}))});
  print_table(rows);
}

void print_services(const json& j) {
  std::vector<std::vector<std::string>> rows{
      {"NAME", "INSTANCES", "PASSING", "VERSIONS"}};
  for (auto& s : j["services"])
    rows.push_back({s.value("name", ""),
                    std::to_string(s.value("instanceCount", 0)),
                    std::to_string(s.value("passingCount", 0)),
                    join(s.value("versions", std::vector<std::string>{}))});
  print_table(rows);
}

/// `valmesh actors`: one row per actor, depth first, names as tree paths.
void actor_rows(const json& x, std::vector<std::vector<std::string>>& rows) {
  std::string failure = "-";
  if (auto& f = x["lastFailure"]; f.is_object())
    failure = f.value("at", "") + " " + f.value("reason", "");
  rows.push_back({x.value("name", ""), x.value("kind", ""),
                  std::to_string(x.value("id", 0)), x.value("state", ""),
                  std::to_string(x.value("restarts", 0)),
                  std::to_string(x.value("mailboxSize", 0)),
                  std::to_string(x.value("messagesHandled", 0)),
                  std::to_string(x.value("uptimeMs", 0)), failure});
  for (auto& c : x["children"]) actor_rows(c, rows);
}

void print_actors(const json& j) {
  std::vector<std::vector<std::string>> rows{{"NAME", "KIND", "ID", "STATE",
                                              "RESTARTS", "MAILBOX", "HANDLED",
                                              "UPTIME_MS", "LAST_FAILURE"}};
  actor_rows(j["root"], rows);
  print_table(rows);
}

/// `valmesh members`: one row per member, as `consul members` prints them.
void print_members(const json& j) {
  std::vector<std::vector<std::string>> rows{
      {"Node", "Address", "HTTP", "Status", "Incarnation", "Build"}};
  for (auto& m : j.value("members", json::array()))
    rows.push_back({m.value("name", ""), m.value("clusterAddr", ""),
                    m.value("httpAddr", ""), m.value("status", ""),
                    std::to_string(m.value("incarnation", uint64_t{0})),
                    m.value("version", "")});
  print_table(rows);
}

/// `valmesh actors --tree`: the supervision tree, indented.
void print_actor_tree(const json& x, const std::string& indent, bool last,
                      bool top) {
  std::string line = top ? "" : indent + (last ? "`-- " : "|-- ");
  line += x.value("name", "") + " [" + x.value("state", "") + "]";
  if (x.contains("strategy"))
    line += " " + x.value("strategy", "") + " " +
            std::to_string(x.value("intensity", 0)) + "/" +
            x.value("period", "");
  line += " mailbox=" + std::to_string(x.value("mailboxSize", 0)) +
          " handled=" + std::to_string(x.value("messagesHandled", 0)) +
          " restarts=" + std::to_string(x.value("restarts", 0));
  if (auto& f = x["lastFailure"]; f.is_object())
    line += " last failure: " + f.value("reason", "");
  std::cout << line << "\n";
  auto& children = x["children"];
  auto next = top ? "" : indent + (last ? "    " : "|   ");
  for (size_t i = 0; i < children.size(); ++i)
    print_actor_tree(children[i], next, i + 1 == children.size(), false);
}

void print_health(const json& j) {
  std::cout << "overall: " << j.value("overall", "") << "\n";
  std::vector<std::vector<std::string>> rows{{"SERVICE", "STATUS", "PASSING",
                                              "WARNING", "CRITICAL", "UNKNOWN",
                                              "CRITICAL?"}};
  for (auto& [name, s] : j["services"].items()) {
    auto& c = s["instances"];
    rows.push_back({name, s.value("status", ""),
                    std::to_string(c.value("passing", 0)),
                    std::to_string(c.value("warning", 0)),
                    std::to_string(c.value("critical", 0)),
                    std::to_string(c.value("unknown", 0)),
                    s.value("critical", false) ? "yes" : "no"});
  }
  print_table(rows);
}

void print_health_services(const json& j) {
  std::vector<std::vector<std::string>> rows{
      {"SERVICE", "ID", "ADDRESS", "STATUS", "CHECKS", "FAILURES", "SUCCESS",
       "LAST_MS", "P99_MS", "LAST_OUTPUT"}};
  char buf[32];
  for (auto& [name, s] : j["services"].items())
    for (auto& x : s["instances"]) {
      std::vector<std::string> row{name,
                                   x.value("id", ""),
                                   x.value("address", ""),
                                   x.value("status", ""),
                                   std::to_string(x.value("checks", 0)),
                                   std::to_string(x.value("failures", 0))};
      std::snprintf(buf, sizeof(buf), "%.0f%%",
                    100.0 * x.value("successRate", 0.0));
      row.push_back(buf);
      std::snprintf(buf, sizeof(buf), "%.2f", x.value("lastDurationMs", 0.0));
      row.push_back(buf);
      std::snprintf(buf, sizeof(buf), "%.2f", x.value("p99DurationMs", 0.0));
      row.push_back(buf);
      row.push_back(x.value("lastOutput", ""));
      rows.push_back(std::move(row));
    }
  print_table(rows);
}

void add_client_flags(CLI::App* cmd, client_flags& f) {
  cmd->add_option("--addr", f.addr,
                  "agent address (env VALMESH_HTTP_ADDR, default "
                  "http://127.0.0.1:8700)");
  cmd->add_option("--token", f.token, "bearer token (env VALMESH_TOKEN)");
  cmd->add_flag("--json", f.json, "print the raw JSON");
}

/// Flags of `valmesh register` without a file.
struct register_flags {
  std::string file, id, name, host, version, health_endpoint, ttl;
  int port = 0;
  int weight = 1;
  std::vector<std::string> tags, meta;
};

expected<std::string> register_body(const register_flags& r,
                                    const CLI::App& cmd) {
  json j;
  if (!r.file.empty()) {
    std::ifstream in{r.file};
    if (!in)
      return failure{errc::invalid_argument, "cannot read '" + r.file + "'"};
    std::stringstream ss;
    ss << in.rdbuf();
    j = json::parse(ss.str(), nullptr, false);
    if (j.is_discarded())
      return failure{errc::invalid_argument, "'" + r.file + "' is not JSON"};
  } else {
    if (r.name.empty() || r.host.empty() || cmd.count("--port") == 0)
      return failure{errc::invalid_argument,
                     "register needs FILE.json or --name, --host and --port"};
    j = {{"name", r.name}, {"host", r.host}, {"port", r.port}};
    if (!r.id.empty()) j["id"] = r.id;
    if (!r.version.empty()) j["version"] = r.version;
    if (!r.health_endpoint.empty()) j["healthEndpoint"] = r.health_endpoint;
    if (!r.ttl.empty()) j["ttl"] = r.ttl;
    if (cmd.count("--weight") > 0) j["weight"] = r.weight;
    if (!r.tags.empty()) j["tags"] = r.tags;
    for (auto& kv : r.meta) {
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        return failure{errc::invalid_argument,
                       "--meta takes KEY=VALUE, not '" + kv + "'"};
      j["metadata"][kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  // Check locally first, so a typo never costs a round trip.
  auto x = parse_instance(j);
  if (!x) return std::move(x).error();
  return j.dump();
}

/// Flags of `valmesh call`.
struct call_flags {
  std::string service, path, method = "GET", body, timeout;
  std::vector<std::string> headers;
  int retries = -1;
};

expected<std::string> call_body(const call_flags& c) {
  json j = {{"service", c.service}, {"method", c.method}, {"path", c.path}};
  if (c.path.empty() || c.path.front() != '/')
    return failure{errc::invalid_argument, "PATH must start with '/'"};
  if (!c.body.empty()) j["body"] = c.body;
  if (!c.timeout.empty()) j["timeout"] = c.timeout;
  if (c.retries >= 0) j["retries"] = c.retries;
  j["headers"] = json::object();
  for (auto& h : c.headers) {
    auto colon = h.find(':');
    if (colon == std::string::npos || colon == 0)
      return failure{errc::invalid_argument,
                     "-H takes 'Name: value', not '" + h + "'"};
    auto value = h.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    j["headers"][h.substr(0, colon)] = value;
  }
  return j.dump();
}

/// Prints a call's outcome: status, attempts, instance, then the body.
void print_call(const json& j) {
  std::cout << "status " << j.value("status", 0) << ", attempts "
            << j.value("attempts", 0) << ", instance "
            << j.value("instance", std::string{}) << ", "
            << j.value("durationMs", 0.0) << " ms\n"
            << j.value("body", std::string{}) << "\n";
}

}  // namespace

/// Prints rows as columns padded to their widest cell.
void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], r[i].size());
    }
  for (auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size())
        line += std::string(widths[i] - r[i].size() + 2, ' ');
    }
    std::cout << line << "\n";
  }
}

int run_cli(int argc, char** argv) {
  CLI::App app{"valmesh: an actor-model runtime for microservices", "valmesh"};
  app.require_subcommand(1);

  agent_flags af;
  auto* agent = app.add_subcommand("agent", "run a node until SIGINT/SIGTERM");
  agent->add_option("--config", af.config_file, "JSON config file");
  agent->add_option("--node-name", af.node_name,
                    "name of this node (host name)");
  agent->add_option("--http", af.http, "HTTP listener (127.0.0.1:8700)");
  agent->add_option("--consul-http", af.consul_http,
                    "a second listener for Consul's clients (none)");
  agent->add_option("--cluster", af.cluster,
                    "cluster listener (127.0.0.1:8701)");
  agent->add_option("--join", af.join, "seed node to join (repeatable)");
  agent->add_option("--cluster-secret", af.cluster_secret,
                    "join only nodes that know this secret");
  agent->add_option("--cluster-secret-file", af.cluster_secret_file,
                    "read the cluster secret from a file");
  agent->add_option("--cluster-tls-cert", af.cluster_tls_cert,
                    "TLS between nodes: this node's certificate (PEM)");
  agent->add_option("--cluster-tls-key", af.cluster_tls_key,
                    "TLS between nodes: this node's private key (PEM)");
  agent->add_option("--cluster-tls-ca", af.cluster_tls_ca,
                    "TLS between nodes: the CA every peer must be signed by");
  agent->add_option("--data-dir", af.data_dir,
                    "durable state (./valmesh-data)");
  agent->add_flag("--dev", af.dev, "keep everything in memory");
  agent->add_option("--token", af.token, "bearer token for mutating requests");
  agent->add_option("--health-interval", af.health_interval,
                    "default health-check interval (30s)");
  agent->add_option("--log-level", af.log_level, "trace..off (info)");
  agent->add_option("--log-format", af.log_format, "text or json (text)");
  agent->add_option("--drain-timeout", af.drain_timeout,
                    "graceful shutdown limit (10s)");
  agent->add_flag("--enable-fault-injection", af.fault_injection,
                  "enable the crash endpoint for drills");
  agent->add_option("--http-threads", af.http_threads,
                    "HTTP event loops, one thread each (2)");
  agent->add_option("--actor-threads", af.actor_threads, "CAF workers (2)");
  agent->add_option("--max-connections", af.max_connections,
                    "HTTP connections at once; more get 503 (0: from the fd "
                    "limit)");
  agent->add_option("--mesh-dispatch", af.mesh_dispatch,
                    "mesh permits: direct or actor (direct)");
  agent->add_option("--actor-scheduler", af.actor_scheduler,
                    "CAF scheduler: sharing or stealing (sharing)");
  agent->add_option(
      "--http-read-timeout", af.http_read_timeout,
      "time to receive a whole request; idle keep-alive limit (30s)");
  agent->add_option("--trace-sampler", af.trace_sampler,
                    "always, never, ratio:P, parent-based[:P] (parent-based)");
  agent->add_option("--otlp-endpoint", af.otlp_endpoint,
                    "OTLP/HTTP JSON receiver, e.g. "
                    "http://127.0.0.1:4318/v1/traces (none)");
  agent->add_option("--trace-buffer", af.trace_buffer,
                    "finished spans kept (10000)");
  agent->add_flag("--no-tracing", af.no_tracing,
                  "no spans at all; trace headers pass through");
  agent->add_flag("--no-mesh-metrics", af.no_mesh_metrics,
                  "the mesh keeps no per-call counts (/metrics, /api/stats)");

  client_flags cf;
  std::string service_name;
  auto* services =
      app.add_subcommand("services", "list services, or one's instances");
  services->add_option("NAME", service_name, "service to show");
  add_client_flags(services, cf);

  register_flags rf;
  auto* reg = app.add_subcommand("register", "register an instance");
  reg->add_option("FILE", rf.file, "instance JSON file");
  reg->add_option("--name", rf.name, "service name");
  reg->add_option("--host", rf.host, "host of the instance");
  reg->add_option("--port", rf.port, "port of the instance");
  reg->add_option("--id", rf.id, "instance id (NAME-<random>)");
  reg->add_option("--version", rf.version, "version of the instance");
  reg->add_option("--weight", rf.weight, "weight 1..1000 (1)");
  reg->add_option("--tag", rf.tags, "tag (repeatable)");
  reg->add_option("--meta", rf.meta, "KEY=VALUE metadata (repeatable)");
  reg->add_option("--health-endpoint", rf.health_endpoint, "path (/health)");
  reg->add_option("--ttl", rf.ttl, "lease, renewed by heartbeats (e.g. 60s)");
  add_client_flags(reg, cf);

  std::string dereg_name, dereg_id;
  auto* dereg = app.add_subcommand("deregister", "remove an instance");
  dereg->add_option("NAME", dereg_name, "service")->required();
  dereg->add_option("ID", dereg_id, "instance id")->required();
  add_client_flags(dereg, cf);

  bool health_services = false;
  auto* health =
      app.add_subcommand("health", "aggregated health, or per-instance checks");
  health->add_flag("--services", health_services, "per-instance check figures");
  add_client_flags(health, cf);

  call_flags callf;
  auto* call = app.add_subcommand("call", "call a service through the mesh");
  call->add_option("SERVICE", callf.service, "service name")->required();
  call->add_option("PATH", callf.path, "path and query, e.g. /api/x?y=1")
      ->required();
  call->add_option("-X,--method", callf.method, "HTTP method (GET)");
  call->add_option("-d,--data", callf.body, "request body");
  call->add_option("-H,--header", callf.headers,
                   "'Name: value' header (repeatable)");
  call->add_option("--timeout", callf.timeout,
                   "overall deadline, e.g. 2s (the service's policy)");
  call->add_option("--retries", callf.retries,
                   "retries 0..10 (the service's policy)");
  add_client_flags(call, cf);

  bool actors_tree = false;
  bool actors_all = false;
  std::string actors_node;
  auto* actors = app.add_subcommand(
      "actors", "actor introspection: the supervision tree and its figures");
  actors->add_flag("--tree", actors_tree, "print the tree, indented");
  actors->add_option("--node", actors_node,
                     "another member's tree, asked over the cluster link");
  actors->add_flag("--all", actors_all, "every alive member's tree");
  add_client_flags(actors, cf);

  auto* members = app.add_subcommand(
      "members", "cluster members and their state (as `consul members`)");
  add_client_flags(members, cf);
  std::string join_addr;
  auto* join_cmd = app.add_subcommand(
      "join", "ask the agent to join the cluster through a member");
  join_cmd
      ->add_option("ADDRESS", join_addr, "HOST:PORT of a member's cluster port")
      ->required();
  add_client_flags(join_cmd, cf);
  spans_command spansf;
  add_spans_command(app, spansf);
  stat_command statf;
  add_stat_command(app, statf);

  auto* ver = app.add_subcommand("version", "print version and build info");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return exit_code::usage;
  }

  if (agent->parsed()) return run_agent(af, *agent);
  if (services->parsed()) {
    if (!service_name.empty())
      return client_call(
          cf, "GET", "/api/services/" + web::encode_path_segment(service_name),
          {}, 200, print_instances);
    return client_call(cf, "GET", "/api/services", {}, 200, print_services);
  }
  if (reg->parsed()) {
    auto body = register_body(rf, *reg);
    if (!body) return usage_error(body.error().message);
    return client_call(cf, "POST", "/api/services", std::move(*body), 201,
                       [](const json& j) {
                         std::cout << "registered " << j.value("name", "")
                                   << "/" << j.value("id", "") << "\n";
                       });
  }
  if (dereg->parsed())
    return client_call(cf, "DELETE",
                       "/api/services/" + web::encode_path_segment(dereg_name) +
                           "/" + web::encode_path_segment(dereg_id),
                       {}, 204, [&](const json&) {
                         std::cout << "deregistered " << dereg_name << "/"
                                   << dereg_id << "\n";
                       });
  if (health->parsed()) {
    if (health_services)
      return client_call(cf, "GET", "/api/health/services", {}, 200,
                         print_health_services);
    return client_call(cf, "GET", "/api/health/aggregated", {}, 200,
                       print_health);
  }
  if (call->parsed()) {
    auto body = call_body(callf);
    if (!body) return usage_error(body.error().message);
    // The upstream's 4xx/5xx is the call's result, not the agent's error;
    // it still exits 1, as `curl --fail` does, so scripts can test it.
    int upstream_failed = 0;
    auto rc = client_call(
        cf, "POST", "/api/call", std::move(*body), 200, print_call,
        [&](const json& j) { upstream_failed = j.value("status", 0) >= 400; });
    return rc == exit_code::ok && upstream_failed ? exit_code::agent_error : rc;
  }
  if (actors->parsed()) {
    auto print = [&](const json& j) {
      if (actors_tree)
        print_actor_tree(j["root"], "", true, true);
      else
        print_actors(j);
    };
    auto tree_of = [&](const std::string& node) {
      auto target = node.empty()
                        ? std::string{"/api/actors"}
                        : "/api/actors?node=" + web::encode_path_segment(node);
      return client_call(cf, "GET", target, {}, 200, print);
    };
    if (!actors_all) return tree_of(actors_node);
    std::vector<std::string> names;
    auto quiet = cf;
    quiet.json = false;
    auto rc = client_call(quiet, "GET", "/api/cluster/members", {}, 200,
                          [&](const json& j) {
                            for (auto& m : j.value("members", json::array()))
                              if (m.value("status", "") == "alive")
                                names.push_back(m.value("name", ""));
                          });
    if (rc != exit_code::ok) return rc;
    int worst = exit_code::ok;
    for (auto& name : names) {
      if (!cf.json) std::cout << "== " << name << " ==\n";
      worst = std::max(worst, tree_of(name));
    }
    return worst;
  }
  if (members->parsed())
    return client_call(cf, "GET", "/api/cluster/members", {}, 200,
                       print_members);
  if (join_cmd->parsed())
    return client_call(
        cf, "POST", "/api/cluster/join", json{{"address", join_addr}}.dump(),
        200, [&](const json& j) {
          std::cout << "joined through " << join_addr << ": "
                    << j.value("members", json::array()).size() << " members\n";
        });
  if (spansf.cmd->parsed()) return run_spans_command(spansf);
  if (statf.cmd->parsed()) return run_stat_command(statf);
  if (ver->parsed()) {
    std::cout << "valmesh " << version << "\n"
              << "caf " << CAF_MAJOR_VERSION << "." << CAF_MINOR_VERSION << "."
              << CAF_PATCH_VERSION << ", boost " << BOOST_VERSION / 100000
              << "." << BOOST_VERSION / 100 % 1000 << ", compiler "
              << __VERSION__ << "\n";
    return exit_code::ok;
  }
  return exit_code::usage;
}

}  // namespace valmesh
