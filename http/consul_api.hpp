#pragma once

// The Consul-compatible subset of the HTTP API under /v1/ (docs/CONSUL.md),
// mapped onto the node's own registry: for clients that already speak
// Consul (the `consul` npm package, python-consul, VictoriaMetrics'
// consul_sd_configs).

#include <chrono>
#include <memory>
#include <string>

#include "actors/directory.hpp"
#include "http/long_poll.hpp"
#include "http/router.hpp"

namespace valmesh::web {

/// What the Consul handlers need from the node.
struct consul_context {
  const directory* actors = nullptr;
  std::string token;  ///< empty: no auth on writes
  std::string node_name;
  std::string node_address;  ///< host of the HTTP listener (the node's IP)
  std::string cluster_addr;  ///< host:port (Consul's server RPC address)
  std::chrono::milliseconds actor_timeout{std::chrono::seconds{5}};
  long_poll_context long_poll;
};

/// Adds the `/v1/` endpoints to `r`; any other path under `/v1/` answers
/// 404 as Consul does.
void install_consul_api(router& r, std::shared_ptr<const consul_context> ctx);

/// Whether the request carries `token` as Consul's clients send it
/// (`X-Consul-Token`, `?token=` or `Authorization: Bearer`), compared in
/// constant time.
bool has_consul_token(const request_context& rc, const std::string& token);

}  // namespace valmesh::web
