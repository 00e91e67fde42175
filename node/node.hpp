#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "runtime/common/error.hpp"
#include "runtime/common/header_list.hpp"
#include "runtime/config/config.hpp"
#include "runtime/registry/load_balancer.hpp"
#include "runtime/registry/service_instance.hpp"
#include "runtime/tracing/tracer.hpp"

namespace valmesh {

/// A call through the mesh from C++ (the original system's
/// `callService(name, {method, path, timeout, retries, correlationId})`).
struct call_options {
  std::string method = "GET";
  std::string path = "/";
  header_list headers;
  std::string body;
  std::optional<std::chrono::milliseconds> timeout;  ///< policy's if unset
  std::optional<uint32_t> retries;                   ///< policy's if unset
  std::string correlation_id;                        ///< generated if empty
};

/// The upstream's answer (any status) with the mesh's figures.
struct call_result {
  unsigned status = 0;
  header_list headers;
  std::string body;
  uint32_t attempts = 0;
  std::string instance;
  std::string correlation_id;
  std::chrono::microseconds duration{0};
};

/// A valmesh node: the actor system with its supervision tree, the HTTP API
/// and the cluster port, composed from a `node_config`. `valmesh agent` runs
/// one; a program can embed one and use the calls below, which mirror the
/// original system's `register(...)` and `getService(name, {...})`.
///
/// The calls block the calling thread until the registry answers (about
/// 100 µs); they are for set-up and tools, not for a request hot path.
class node {
 public:
  explicit node(node_config cfg);
  ~node();

  node(const node&) = delete;
  node& operator=(const node&) = delete;

  /// Starts the actors, binds the HTTP and cluster listeners, and registers
  /// the services of the config. Returns the failure if any step fails.
  std::optional<failure> start();

  /// Stops listening, stops every actor and waits for them. Idempotent.
  void stop();

  /// Graceful shutdown's first half: `/health` turns 503 "draining", new
  /// connections are refused, idle ones closed, and the requests in
  /// progress get up to `timeout` to finish. Returns whether all did.
  /// Call `stop` afterwards.
  bool drain(std::chrono::milliseconds timeout);

  /// Called (from an actor thread) if the supervision tree gives up: a
  /// child of node_supervisor failed past its restart intensity. Set before
  /// `start`.
  void on_fatal(std::function<void(std::string)> f);

  /// The bound ports (the real ones when the config asked for port 0).
  uint16_t http_port() const noexcept;
  uint16_t cluster_port() const noexcept;

  const node_config& config() const noexcept;

  /// Registers (or updates) an instance; returns it as stored, id included.
  expected<service_instance> register_service(service_instance x);

  /// Picks one instance of `name` with the options' strategy.
  expected<service_instance> get_service(const std::string& name,
                                         resolve_options options = {});

  /// Returns every instance of `name`.
  expected<std::vector<service_instance>> instances(const std::string& name);

  /// Removes one instance.
  expected<service_instance> deregister(const std::string& name,
                                        const std::string& id);

  /// Calls service `name` through the mesh (bulkhead, breakers, retries,
  /// deadline) and waits for the outcome. A failure is the mesh's own
  /// (`no_healthy_instance`, `bulkhead_full`, `circuit_open`, `bad_gateway`,
  /// `deadline_exceeded`); an upstream's 4xx or 5xx is a result.
  expected<call_result> call_service(const std::string& name,
                                     call_options options = {});

  /// The node's tracer, for spans of the embedding program (README.md):
  /// `start_span(name, {tags})`, `span.finish("success" | "error", why)`,
  /// `tracer::inject(span, headers)`. Spans it records land in the node's
  /// buffer (`GET /api/tracing/spans`) and export. A `call_service` made
  /// inside a `scoped_span` is its child. Valid from `start()` until the
  /// node is destroyed; with tracing off it samples nothing.
  valmesh::tracer& tracer();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace valmesh
