#include "runtime/tracing/span.hpp"

#include <nlohmann/json.hpp>

namespace valmesh {

std::string_view to_string(span_kind k) noexcept {
  switch (k) {
    case span_kind::internal:
      return "internal";
    case span_kind::server:
      return "server";
    case span_kind::client:
      return "client";
    case span_kind::producer:
      return "producer";
    case span_kind::consumer:
      return "consumer";
  }
  return "internal";
}

std::string_view to_string(status_code c) noexcept {
  switch (c) {
    case status_code::unset:
      return "unset";
    case status_code::ok:
      return "ok";
    case status_code::error:
      return "error";
  }
  return "unset";
}

std::string_view to_string(known_attribute k) noexcept {
  switch (k) {
    case known_attribute::none:
      return {};
    case known_attribute::http_request_method:
      return "http.request.method";
    case known_attribute::http_route:
      return "http.route";
    case known_attribute::http_response_status_code:
      return "http.response.status_code";
    case known_attribute::url_path:
      return "url.path";
    case known_attribute::server_address:
      return "server.address";
    case known_attribute::server_port:
      return "server.port";
    case known_attribute::client_address:
      return "client.address";
    case known_attribute::error_type:
      return "error.type";
    case known_attribute::valmesh_service:
      return "valmesh.service";
    case known_attribute::valmesh_instance:
      return "valmesh.instance";
    case known_attribute::valmesh_attempt:
      return "valmesh.attempt";
    case known_attribute::valmesh_attempts:
      return "valmesh.attempts";
    case known_attribute::valmesh_breaker_state:
      return "valmesh.breaker_state";
    case known_attribute::valmesh_correlation_id:
      return "valmesh.correlation_id";
  }
  return {};
}

const attribute_value* span_data::find(std::string_view key) const noexcept {
  for (auto& a : attributes)
    if (a.key == key) return &a.value;
  return nullptr;
}

nlohmann::json to_json(const attribute_value& v) {
  return std::visit([](auto& x) { return nlohmann::json(x); }, v);
}

namespace {

nlohmann::json attributes_json(const attribute_list& xs) {
  auto j = nlohmann::json::object();
  for (auto& a : xs) j[std::string{a.key.name()}] = to_json(a.value);
  return j;
}

}  // namespace

nlohmann::json to_json(const span_data& s) {
  using json = nlohmann::json;
  auto events = json::array();
  for (auto& e : s.events)
    events.push_back({{"name", e.name},
                      {"timeUnixNano", e.time_unix_nano},
                      {"attributes", attributes_json(e.attributes)}});
  json status = {{"code", to_string(s.status)}};
  status["message"] = s.status_message;
  return {
      {"traceId", s.trace.to_hex()},
      {"spanId", s.span.to_hex()},
      {"parentSpanId", s.parent.valid() ? json(s.parent.to_hex()) : json()},
      {"name", s.name},
      {"kind", to_string(s.kind)},
      {"startTimeUnixNano", s.start_unix_nano},
      {"endTimeUnixNano", s.end_unix_nano},
      {"durationMs",
       static_cast<double>(s.end_unix_nano - s.start_unix_nano) / 1e6},
      {"attributes", attributes_json(s.attributes)},
      {"events", std::move(events)},
      {"status", std::move(status)},
      {"traceState", s.trace_state},
  };
}

}  // namespace valmesh
