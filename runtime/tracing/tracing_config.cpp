#include "runtime/tracing/tracing_config.hpp"

#include <nlohmann/json.hpp>

#include "runtime/config/config_read.hpp"
#include "runtime/tracing/sampler.hpp"

namespace valmesh {

using namespace config_read;

std::optional<failure> read_tracing(const nlohmann::json& v,
                                    tracing_config& t) {
  if (!v.is_object()) return bad("tracing", "must be an object");
  for (auto& [k, x] : v.items()) {
    auto key = "tracing." + k;
    std::optional<failure> e;
    auto& o = t.exporter;
    if (k == "enabled")
      e = read_bool(x, key, t.enabled);
    else if (k == "sampler") {
      e = read_string(x, key, t.sampler);
      if (!e)
        if (auto s = sampler::parse(t.sampler); !s)
          e = bad(key, s.error().message);
    } else if (k == "bufferCapacity")
      e = read_uint(x, key, 1, 10'000'000, t.buffer_capacity);
    else if (k == "otlpEndpoint") {
      e = read_string(x, key, t.otlp_endpoint);
      if (!e && !t.otlp_endpoint.empty())
        if (auto p = parse_otlp_endpoint(t.otlp_endpoint); !p)
          e = bad(key, p.error().message);
    } else if (k == "exportBatchSize")
      e = read_uint(x, key, 1, 100'000, o.batch_size);
    else if (k == "exportInterval") {
      e = read_duration(x, key, o.interval);
      if (!e && o.interval.count() <= 0)
        e = bad(key, "must be longer than 0ms");
    } else if (k == "exportQueueSize")
      e = read_uint(x, key, 1, 10'000'000, o.queue_size);
    else if (k == "exportMaxRetries")
      e = read_uint(x, key, 0, 100, o.max_retries);
    else if (k == "exportTimeout") {
      e = read_duration(x, key, o.timeout);
      if (!e && o.timeout.count() <= 0) e = bad(key, "must be longer than 0ms");
    } else
      e = bad(key, "unknown key");
    if (e) return e;
  }
  return std::nullopt;
}

std::optional<failure> validate_tracing(const tracing_config& t) {
  if (auto s = sampler::parse(t.sampler); !s)
    return bad("tracing.sampler", s.error().message);
  if (t.buffer_capacity < 1 || t.buffer_capacity > 10'000'000)
    return bad("tracing.bufferCapacity", "must be between 1 and 10000000");
  if (!t.otlp_endpoint.empty())
    if (auto p = parse_otlp_endpoint(t.otlp_endpoint); !p)
      return bad("tracing.otlpEndpoint", p.error().message);
  if (t.exporter.queue_size < t.exporter.batch_size)
    return bad("tracing.exportQueueSize",
               "must be at least tracing.exportBatchSize");
  return std::nullopt;
}

expected<otlp_target> parse_otlp_endpoint(const std::string& url) {
  auto fail = [&](std::string why) {
    return failure{errc::invalid_argument,
                   "'" + url + "' is not an OTLP endpoint: " + why};
  };
  constexpr std::string_view scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0)
    return fail("it must start with http:// (https is not supported)");
  auto rest = std::string_view{url}.substr(scheme.size());
  auto slash = rest.find('/');
  auto authority = rest.substr(0, slash);
  otlp_target t;
  t.path = slash == std::string_view::npos ? "/v1/traces"
                                           : std::string{rest.substr(slash)};
  if (authority.empty()) return fail("no host");
  std::string_view host = authority, port;
  if (authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return fail("unclosed '['");
    host = authority.substr(1, close - 1);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return fail("bad port");
      port = after.substr(1);
    }
  } else if (auto colon = authority.rfind(':');
             colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) return fail("no host");
  t.host = std::string{host};
  t.port = 80;
  if (!port.empty()) {
    uint32_t p = 0;
    if (port.size() > 5) return fail("bad port");
    for (char c : port) {
      if (c < '0' || c > '9') return fail("bad port");
      p = p * 10 + static_cast<uint32_t>(c - '0');
    }
    if (p == 0 || p > 65535) return fail("bad port");
    t.port = static_cast<uint16_t>(p);
  }
  return t;
}

}  // namespace valmesh
