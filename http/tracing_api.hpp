#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "actors/directory.hpp"
#include "http/router.hpp"
#include "runtime/tracing/tracer.hpp"

namespace valmesh::web {

/// What the tracing endpoints need from the node.
struct tracing_api_context {
  const directory* actors = nullptr;
  std::shared_ptr<const tracer> spans;  ///< null when tracing is off
  std::string sampler;                  ///< its name, for the stats
  std::string otlp_endpoint;            ///< empty: no export
  std::chrono::milliseconds actor_timeout{std::chrono::seconds{5}};
};

/// Adds `GET /api/tracing/stats` and `GET /api/tracing/spans` (docs/API.md).
void install_tracing_api(router& r,
                         std::shared_ptr<const tracing_api_context> ctx);

/// Reads the spans endpoint's query (`limit` 1..100000, default 100;
/// `traceId` 32 hex digits; `service` a service name). Exposed for tests.
expected<span_query> parse_span_query(const request_context& rc);

}  // namespace valmesh::web
