#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <caf/all.hpp>

#include "actors/directory.hpp"
#include "http/router.hpp"

namespace valmesh::web {

/// What the API handlers need from the node.
struct api_context {
  const directory* actors = nullptr;  ///< current actor handles
  std::string token;                  ///< empty: no auth on mutations
  std::string node_name;
  std::string http_addr;
  std::string cluster_addr;
  /// How long a handler waits for an actor before answering 503.
  std::chrono::milliseconds actor_timeout{std::chrono::seconds{5}};
};

/// Adds the registry, discovery and node endpoints of SPEC §3 to `r`.
void install_api(router& r, std::shared_ptr<const api_context> ctx);

/// Checks `Authorization: Bearer <token>` in constant time. Returns the
/// failure to answer (401 missing, 403 wrong), or nothing when allowed.
std::optional<failure> check_token(const request& req,
                                   const std::string& token);

}  // namespace valmesh::web
