#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "runtime/common/error.hpp"
#include "runtime/tracing/otlp.hpp"

namespace valmesh {

/// Tracing (config key `tracing`; README.md, "The agent", lists the same
/// keys, docs/ARCHITECTURE.md, "Tracing", how they work).
///
/// | key              | flag                 | default      | meaning                                                       |
/// |------------------|----------------------|--------------|---------------------------------------------------------------|
/// | enabled          | --no-tracing (false) | true         | false: no spans at all, trace headers pass through untouched  |
/// | sampler          | --trace-sampler      | parent-based | always, never, ratio:P, parent-based, parent-based:P          |
/// | bufferCapacity   | --trace-buffer       | 10000        | finished spans kept; the oldest are dropped                   |
/// | otlpEndpoint     | --otlp-endpoint      | none (off)   | OTLP/HTTP JSON receiver, e.g. http://127.0.0.1:4318/v1/traces |
/// | exportBatchSize  |                      | 512          | spans per export request                                      |
/// | exportInterval   |                      | 5s           | a partial batch waits at most this                            |
/// | exportQueueSize  |                      | 4096         | spans waiting for export; oldest dropped past it              |
/// | exportMaxRetries |                      | 5            | retries of a failed batch (backoff 200ms doubling, 5s max)    |
/// | exportTimeout    |                      | 10s          | deadline of one export request                                |
struct tracing_config {
  bool enabled = true;
  std::string sampler = "parent-based";
  uint64_t buffer_capacity = 10'000;
  std::string otlp_endpoint;  ///< empty: no export
  otlp_export_options exporter;
};

/// Applies the `tracing` object `v` over `out`; a failure names the key.
std::optional<failure> read_tracing(const nlohmann::json& v,
                                    tracing_config& out);

/// Checks what flags can set as well (sampler, capacity, endpoint).
std::optional<failure> validate_tracing(const tracing_config& t);

/// An OTLP endpoint split for the upstream client.
struct otlp_target {
  std::string host;
  uint16_t port = 0;
  std::string path;  ///< e.g. /v1/traces
};

/// Parses `http://HOST[:PORT][/PATH]` (port 80 and path /v1/traces by
/// default). https is not supported.
expected<otlp_target> parse_otlp_endpoint(const std::string& url);

}  // namespace valmesh
