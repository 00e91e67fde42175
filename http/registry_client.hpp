#pragma once

#include <string>
#include <vector>

#include "http/client.hpp"
#include "runtime/registry/load_balancer.hpp"
#include "runtime/registry/service_instance.hpp"

namespace valmesh {

/// Talks to a running node over its HTTP API, with the calls of the
/// original system's registry: `register_service(...)` and
/// `get_service(name, {healthy_only, strategy})`. Blocking; each call is
/// one HTTP request. Errors the node answers keep their code and message;
/// an unreachable node gives `unavailable`.
class registry_client {
 public:
  explicit registry_client(endpoint node, std::string token = {});

  expected<service_instance> register_service(const service_instance& x);
  expected<service_instance> get_service(const std::string& name,
                                         resolve_options options = {});
  expected<std::vector<service_summary>> services();
  expected<std::vector<service_instance>> instances(const std::string& name);
  expected<bool> deregister(const std::string& name, const std::string& id);
  expected<service_instance> heartbeat(const std::string& name,
                                       const std::string& id);

  /// Sends one request and returns the raw response (for the CLI's --json).
  expected<web::client_response> raw(const std::string& method,
                                     const std::string& target,
                                     std::string body = {});

 private:
  endpoint node_;
  std::string token_;
};

/// Turns an error response of a node into a `failure` (docs/API.md).
failure failure_from_response(const web::client_response& res);

}  // namespace valmesh
