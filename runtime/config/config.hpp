#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "runtime/common/error.hpp"
#include "runtime/mesh/mesh_policy.hpp"
#include "runtime/registry/service_instance.hpp"
#include "runtime/tracing/tracing_config.hpp"

namespace valmesh {

/// A host and a port, as `--http` and `--cluster` take them.
struct endpoint {
  std::string host;
  uint16_t port = 0;

  /// Returns `host:port` (IPv6 hosts in brackets).
  std::string to_string() const;

  friend bool operator==(const endpoint&, const endpoint&) = default;
};

/// Parses `HOST:PORT` or `[V6]:PORT`; port 0 means "any free port".
expected<endpoint> parse_endpoint(std::string_view text);

/// Per-service overrides of the health defaults (`health.services.NAME`).
struct service_health_config {
  std::optional<std::chrono::milliseconds> interval;
  std::optional<std::chrono::milliseconds> timeout;
  /// When this service is unhealthy, the whole is.
  bool critical = false;
};

/// Health-check defaults (config key `health`; README.md, "Health checks",
/// has the same table).
///
/// | key                     | default | meaning                                           |
/// |-------------------------|---------|---------------------------------------------------|
/// | interval                | 30s     | time between checks of one instance               |
/// | timeout                 | 5s      | a check slower than this fails                    |
/// | failuresBeforeCritical  | 2       | consecutive failures to turn critical             |
/// | successBeforePassing    | 1       | consecutive successes to turn passing             |
/// | deregisterCriticalAfter | 60s     | remove an instance critical this long (0s: never) |
/// | services.NAME           | none    | `interval`, `timeout`, `critical` for one service |
struct health_config {
  std::chrono::milliseconds interval{std::chrono::seconds{30}};
  std::chrono::milliseconds timeout{std::chrono::seconds{5}};
  uint32_t failures_before_critical = 2;
  uint32_t success_before_passing = 1;
  std::chrono::milliseconds deregister_critical_after{std::chrono::seconds{60}};
  std::map<std::string, service_health_config> services;
};

/// Everything `valmesh agent` is configured with. Each default lives here,
/// once; the config file and the flags override it in that order. README.md,
/// "The agent", states the same defaults, and
/// tests/unit/config/readme_defaults_test.cpp compares the two.
///
/// | key (flag)                             | default            |
/// |----------------------------------------|--------------------|
/// | node_name (--node-name)                | the host name      |
/// | http (--http)                          | 127.0.0.1:8700     |
/// | cluster (--cluster)                    | 127.0.0.1:8701     |
/// | consul_http (--consul-http)            | none (a second listener) |
/// | join (--join, repeatable)              | none               |
/// | cluster_secret (--cluster-secret, --cluster-secret-file) | none: any node may join |
/// | cluster_tls_cert (--cluster-tls-cert)  | none: plain TCP    |
/// | cluster_tls_key (--cluster-tls-key)    | none               |
/// | cluster_tls_ca (--cluster-tls-ca)      | none               |
/// | data_dir (--data-dir)                  | ./valmesh-data     |
/// | dev (--dev)                            | false              |
/// | token (--token)                        | none               |
/// | health_interval (--health-interval)    | 30s (= health.interval) |
/// | log_level (--log-level)                | info               |
/// | log_format (--log-format)              | text               |
/// | drain_timeout (--drain-timeout)        | 10s                |
/// | enable_fault_injection (--enable-fault-injection) | false   |
/// | http_threads (--http-threads)          | 2 (event loops)    |
/// | actor_threads (--actor-threads)        | 2                  |
/// | actor_scheduler (--actor-scheduler; no config key) | sharing |
/// | http_read_timeout (--http-read-timeout)| 30s                |
/// | http_body_limit                        | 1048576 (1 MiB)    |
/// | events_keepalive                       | 15s (SSE comment)  |
/// | events_queue_limit                     | 256 per SSE client |
/// | events_max_streams                     | 1024 SSE clients   |
/// | max_blocking_queries                   | 4096 held at once  |
/// | max_connections (--max-connections)    | 0: from the fd limit |
/// | health                                 | see `health_config`|
/// | policies                               | see `call_policy`  |
/// | upstream_response_limit                | 16777216 (16 MiB): 502 past it |
/// | upstream_connect_timeout               | 1s                 |
/// | mesh_dispatch (--mesh-dispatch)        | direct (or actor)  |
/// | mesh_metrics (--no-mesh-metrics)       | true: per-call mesh counts kept |
/// | services                               | none: instances registered on start |
/// | tracing (--trace-sampler, ...)         | see `tracing_config` |
struct node_config {
  std::string node_name;
  endpoint http{"127.0.0.1", 8700};
  endpoint cluster{"127.0.0.1", 8701};
  /// A second HTTP listener for Consul's clients (docs/CONSUL.md); none by
  /// default (the /v1/ API is on `http` as well).
  std::optional<endpoint> consul_http;
  std::vector<endpoint> join;
  /// Nodes join only with nodes that prove they know it (a mutual
  /// challenge); empty: any node that reaches the cluster port may.
  std::string cluster_secret;
  /// TLS between nodes (PEM files): this node's certificate and key, and
  /// the CA that every peer's certificate must be signed by. All three or
  /// none.
  std::string cluster_tls_cert;
  std::string cluster_tls_key;
  std::string cluster_tls_ca;
  std::string data_dir = "./valmesh-data";
  bool dev = false;
  std::string token;
  health_config health;
  std::string log_level = "info";
  std::string log_format = "text";
  std::chrono::milliseconds drain_timeout{std::chrono::seconds{10}};
  bool enable_fault_injection = false;
  uint32_t http_threads = 2;
  uint32_t actor_threads = 2;
  /// CAF's scheduler: "sharing" (one queue, idle workers block) or
  /// "stealing" (per-worker queues, idle workers poll and sleep).
  std::string actor_scheduler = "sharing";
  std::chrono::milliseconds http_read_timeout{std::chrono::seconds{30}};
  uint64_t http_body_limit = 1024 * 1024;
  std::chrono::milliseconds events_keepalive{std::chrono::seconds{15}};
  uint32_t events_queue_limit = 256;
  /// Event streams open at once; one more is answered 503.
  uint32_t events_max_streams = 1024;
  /// Blocking queries (`?index=`) held at once, native and Consul API
  /// together; one more is answered 503.
  uint32_t max_blocking_queries = 4096;
  /// HTTP connections open at once; one more is answered 503 and closed.
  /// 0: derived from the process's file-descriptor limit when the node
  /// starts (`web::default_max_connections`).
  uint32_t max_connections = 0;
  mesh_policies policies;
  /// How a mesh call takes its permit: "direct" (a locked call on the
  /// bulkhead's gate) or "actor" (a message round trip to the bulkhead).
  std::string mesh_dispatch = "direct";
  /// Whether the mesh counts its calls (`GET /metrics`, `GET /api/stats`).
  bool mesh_metrics = true;
  uint64_t upstream_response_limit = 16 * 1024 * 1024;
  std::chrono::milliseconds upstream_connect_timeout{std::chrono::seconds{1}};
  std::vector<service_instance> services;
  tracing_config tracing;
};

/// Returns the defaults, with `node_name` set to this machine's host name.
node_config default_config();

/// Applies the keys of `j` (a config file's object) over `base`. Rejects
/// unknown keys and bad values with a message naming the key.
expected<node_config> parse_config(const nlohmann::json& j,
                                   node_config base = default_config());

/// Reads and parses a config file.
expected<node_config> load_config_file(const std::string& path,
                                       node_config base = default_config());

/// Checks the values that flags can set as well as the file (levels, formats,
/// ranges), so both paths share one rule.
expected<node_config> validate_config(node_config cfg);

}  // namespace valmesh
