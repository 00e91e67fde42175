#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "runtime/config.hpp"
#include "runtime/error.hpp"
#include "runtime/load_balancer.hpp"
#include "runtime/service_instance.hpp"

namespace valmesh {

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

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace valmesh
