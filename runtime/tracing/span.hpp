#pragma once

// A finished span, after the OpenTelemetry data model, and its
// JSON form for `GET /api/tracing/spans`.

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "runtime/tracing/trace_context.hpp"

namespace valmesh {

/// OpenTelemetry's SpanKind.
enum class span_kind : uint8_t { internal, server, client, producer, consumer };

/// Returns "internal", "server", "client", "producer" or "consumer".
std::string_view to_string(span_kind k) noexcept;

/// OpenTelemetry's StatusCode.
enum class status_code : uint8_t { unset, ok, error };

/// Returns "unset", "ok" or "error".
std::string_view to_string(status_code c) noexcept;

/// An attribute value: string, integer, floating point or boolean.
using attribute_value = std::variant<std::string, int64_t, double, bool>;

/// The attribute names the gateway records on every span (OpenTelemetry's
/// semantic conventions, and valmesh's own). Kept as a number, so setting one
/// allocates nothing for its name.
enum class known_attribute : uint8_t {
  none,
  http_request_method,        ///< http.request.method
  http_route,                 ///< http.route
  http_response_status_code,  ///< http.response.status_code
  url_path,                   ///< url.path
  server_address,             ///< server.address
  server_port,                ///< server.port
  client_address,             ///< client.address
  error_type,                 ///< error.type
  valmesh_service,            ///< valmesh.service
  valmesh_instance,           ///< valmesh.instance
  valmesh_attempt,            ///< valmesh.attempt
  valmesh_attempts,           ///< valmesh.attempts
  valmesh_breaker_state,      ///< valmesh.breaker_state
  valmesh_correlation_id,     ///< valmesh.correlation_id
};

/// Returns the dotted name of `k` (empty for `none`).
std::string_view to_string(known_attribute k) noexcept;

/// An attribute's name: one of `known_attribute`, or any other string.
class attribute_key {
 public:
  attribute_key(known_attribute k) noexcept : known_(k) {}
  attribute_key(std::string s) : custom_(std::move(s)) {}
  attribute_key(std::string_view s) : custom_(s) {}
  attribute_key(const char* s) : custom_(s) {}

  /// The known name, or `none` for a custom one.
  known_attribute known() const noexcept { return known_; }

  std::string_view name() const noexcept {
    return known_ == known_attribute::none ? std::string_view{custom_}
                                           : to_string(known_);
  }

  friend bool operator==(const attribute_key& a, const attribute_key& b) {
    if (a.known_ != known_attribute::none && b.known_ != known_attribute::none)
      return a.known_ == b.known_;
    return a.name() == b.name();
  }
  friend bool operator==(const attribute_key& a, std::string_view b) {
    return a.name() == b;
  }

 private:
  known_attribute known_ = known_attribute::none;
  std::string custom_;
};

/// One attribute (key and value).
struct attribute {
  attribute_key key;
  attribute_value value;
};

using attribute_list = std::vector<attribute>;

/// Something that happened during a span, at a point in time.
struct span_event {
  std::string name;
  int64_t time_unix_nano = 0;
  attribute_list attributes;
};

/// A span as recorded: what the buffer keeps and the exporter sends.
struct span_data {
  trace_id trace;
  span_id span;
  span_id parent;  ///< invalid (0) for a root span
  std::string name;
  span_kind kind = span_kind::internal;
  int64_t start_unix_nano = 0;
  int64_t end_unix_nano = 0;
  attribute_list attributes;
  std::vector<span_event> events;
  status_code status = status_code::unset;
  std::string status_message;
  /// The trace state the span was started with (`key=value,...`).
  std::string trace_state;

  /// The value of attribute `key`, or null.
  const attribute_value* find(std::string_view key) const noexcept;
};

/// The span's JSON (docs/API.md): `traceId, spanId, parentSpanId, name, kind,
/// startTimeUnixNano, endTimeUnixNano, attributes, events, status` (ids in
/// lower-case hex, `parentSpanId` null for a root, times as numbers,
/// attributes as an object, status `{"code", "message"}`), plus
/// `durationMs` for people.
nlohmann::json to_json(const span_data& s);

/// The attribute value as JSON (a string, number or boolean).
nlohmann::json to_json(const attribute_value& v);

}  // namespace valmesh
