#include "runtime/registry/service_instance.hpp"

#include <ctime>

#include <nlohmann/json.hpp>

#include "runtime/common/duration.hpp"

namespace valmesh {

namespace {

using json = nlohmann::json;

bool is_alnum(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9');
}

failure invalid(std::string message) {
  return failure{errc::invalid_argument, std::move(message)};
}

/// Reads an optional string field; returns an error when it has another type.
std::optional<failure> read_string(const json& j, const char* key,
                                   std::string& out, size_t max_len) {
  auto i = j.find(key);
  if (i == j.end() || i->is_null()) return std::nullopt;
  if (!i->is_string())
    return invalid(std::string{"'"} + key + "' must be a string");
  auto& s = i->get_ref<const std::string&>();
  if (s.size() > max_len)
    return invalid(std::string{"'"} + key + "' is longer than " +
                   std::to_string(max_len) + " characters");
  out = s;
  return std::nullopt;
}

/// Reads an optional integer field in [lo, hi].
std::optional<failure> read_int(const json& j, const char* key, int64_t lo,
                                int64_t hi, int64_t& out) {
  auto i = j.find(key);
  if (i == j.end() || i->is_null()) return std::nullopt;
  if (!i->is_number_integer())
    return invalid(std::string{"'"} + key + "' must be an integer");
  auto v = i->is_number_unsigned()
               ? static_cast<int64_t>(std::min<uint64_t>(
                     i->get<uint64_t>(), static_cast<uint64_t>(INT64_MAX)))
               : i->get<int64_t>();
  if (v < lo || v > hi)
    return invalid(std::string{"'"} + key + "' must be between " +
                   std::to_string(lo) + " and " + std::to_string(hi));
  out = v;
  return std::nullopt;
}

constexpr const char* known_keys[] = {
    "id",
    "name",
    "version",
    "host",
    "port",
    "protocol",
    "healthEndpoint",
    "weight",
    "tags",
    "metadata",
    "ttl",
    // Owned by the catalog: accepted and ignored.
    "status",
    "registeredAt",
    "lastHeartbeat",
    "lastCheck",
    "node",
    "activeRequests",
    "origin",
    "revision",
};

}  // namespace

std::string_view to_string(health_status x) noexcept {
  switch (x) {
    case health_status::unknown:
      return "unknown";
    case health_status::passing:
      return "passing";
    case health_status::warning:
      return "warning";
    case health_status::critical:
      return "critical";
  }
  return "unknown";
}

bool valid_service_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > limits::max_name_length) return false;
  if (!is_alnum(name[0])) return false;
  for (char c : name)
    if (!is_alnum(c) && c != '.' && c != '_' && c != '-') return false;
  return true;
}

bool valid_instance_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > limits::max_id_length) return false;
  for (char c : id)
    if (!is_alnum(c) && c != '.' && c != '_' && c != '-' && c != ':')
      return false;
  return true;
}

expected<service_instance> validate_instance(service_instance x) {
  if (x.name.empty()) return invalid("'name' is required");
  if (!valid_service_name(x.name))
    return invalid("'name' must match [A-Za-z0-9][A-Za-z0-9._-]{0,62}");
  if (!x.id.empty() && !valid_instance_id(x.id))
    return invalid("'id' must be 1 to 128 characters of [A-Za-z0-9._:-]");
  if (x.host.empty()) return invalid("'host' is required");
  if (x.host.size() > limits::max_host_length)
    return invalid("'host' is longer than 253 characters");
  for (unsigned char c : x.host)
    if (c <= ' ' || c == '/' || c == '@' || c == '?' || c == '#' || c >= 0x7f)
      return invalid("'host' must be a host name or an IP address");
  if (x.port == 0) return invalid("'port' must be between 1 and 65535");
  if (x.protocol != "http")
    return invalid("'protocol' must be \"http\" (others are not supported)");
  // Empty: no active check (the status comes from the TTL lease or from
  // whoever sets it, as a Consul service with a TTL check or none).
  if (!x.health_endpoint.empty() && x.health_endpoint[0] != '/')
    return invalid(
        "'healthEndpoint' must be a path starting with '/' (or \"\" for no "
        "active check)");
  if (x.weight < 1 || x.weight > limits::max_weight)
    return invalid("'weight' must be between 1 and 1000");
  if (x.version.size() > limits::max_version_length)
    return invalid("'version' is longer than 64 characters");
  if (x.tags.size() > limits::max_tags)
    return invalid("'tags' has more than 64 entries");
  for (auto& t : x.tags)
    if (t.size() > limits::max_tag_length)
      return invalid("a tag is longer than 255 characters");
  if (x.metadata.size() > limits::max_metadata_keys)
    return invalid("'metadata' has more than 64 keys");
  for (auto& [k, v] : x.metadata)
    if (k.empty() || k.size() > limits::max_name_length ||
        v.size() > limits::max_metadata_value_length)
      return invalid(
          "'metadata' keys must be 1 to 63 characters and values "
          "at most 512");
  if (x.ttl_ms < 0 || x.ttl_ms > limits::max_ttl_ms)
    return invalid("'ttl' must be between 1s and 24h");
  return x;
}

expected<service_instance> parse_instance(const json& j) {
  if (!j.is_object()) return invalid("the instance must be a JSON object");
  for (auto& [key, _] : j.items()) {
    bool known = false;
    for (auto* k : known_keys) known = known || key == k;
    if (!known) return invalid("unknown key '" + key + "'");
  }
  service_instance x;
  if (auto e = read_string(j, "id", x.id, limits::max_id_length)) return *e;
  if (auto e = read_string(j, "name", x.name, limits::max_name_length + 1))
    return *e;
  if (auto e = read_string(j, "version", x.version, limits::max_version_length))
    return *e;
  if (auto e = read_string(j, "host", x.host, limits::max_host_length))
    return *e;
  if (auto e = read_string(j, "protocol", x.protocol, 16)) return *e;
  if (auto e = read_string(j, "healthEndpoint", x.health_endpoint,
                           limits::max_path_length))
    return *e;
  if (!j.contains("port")) return invalid("'port' is required");
  int64_t port = 0;
  if (auto e = read_int(j, "port", 1, 65535, port)) return *e;
  x.port = static_cast<uint16_t>(port);
  int64_t weight = 1;
  if (auto e = read_int(j, "weight", 1, limits::max_weight, weight)) return *e;
  x.weight = static_cast<uint32_t>(weight);
  if (auto i = j.find("tags"); i != j.end() && !i->is_null()) {
    if (!i->is_array()) return invalid("'tags' must be an array of strings");
    for (auto& t : *i) {
      if (!t.is_string()) return invalid("'tags' must be an array of strings");
      x.tags.push_back(t.get<std::string>());
    }
  }
  if (auto i = j.find("metadata"); i != j.end() && !i->is_null()) {
    if (!i->is_object())
      return invalid("'metadata' must be an object of strings");
    for (auto& [k, v] : i->items()) {
      if (!v.is_string())
        return invalid("'metadata' values must be strings ('" + k + "')");
      x.metadata.emplace(k, v.get<std::string>());
    }
  }
  if (auto i = j.find("ttl"); i != j.end() && !i->is_null()) {
    if (!i->is_string())
      return invalid("'ttl' must be a duration like \"60s\"");
    auto d = parse_duration(i->get_ref<const std::string&>());
    if (!d || d->count() < 1000 || d->count() > limits::max_ttl_ms)
      return invalid(
          "'ttl' must be a duration between 1s and 24h, like \"60s\"");
    x.ttl_ms = d->count();
  }
  return validate_instance(std::move(x));
}

std::string format_unix_ms(int64_t unix_ms) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  auto n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof(buf) - n, ".%03dZ",
                static_cast<int>(unix_ms % 1000));
  return buf;
}

json timestamp_or_null(int64_t unix_ms) {
  return unix_ms == 0 ? json(nullptr) : json(format_unix_ms(unix_ms));
}

json to_json(const service_instance& x) {
  json j = {
      {"id", x.id},
      {"name", x.name},
      {"version", x.version},
      {"host", x.host},
      {"port", x.port},
      {"protocol", x.protocol},
      {"healthEndpoint", x.health_endpoint},
      {"weight", x.weight},
      {"tags", x.tags},
      {"metadata", x.metadata},
      {"status", to_string(x.status)},
      {"registeredAt", format_unix_ms(x.registered_at_ms)},
      {"lastHeartbeat", timestamp_or_null(x.last_heartbeat_ms)},
      {"lastCheck",
       x.last_check_ms == 0
           ? json(nullptr)
           : json{{"at", format_unix_ms(x.last_check_ms)},
                  {"durationMs",
                   static_cast<double>(x.last_check_duration_us) / 1000.0},
                  {"output", x.last_check_output}}},
      {"node", x.node},
      {"activeRequests", x.active_requests},
      {"origin", x.revision.origin},
      {"revision", x.revision.stamp},
  };
  if (x.ttl_ms > 0)
    j["ttl"] = format_duration(std::chrono::milliseconds{x.ttl_ms});
  return j;
}

json to_json(const service_summary& x) {
  return {{"name", x.name},
          {"instanceCount", x.instance_count},
          {"passingCount", x.passing_count},
          {"versions", x.versions}};
}

}  // namespace valmesh

namespace valmesh {

std::optional<health_status> parse_health_status(
    std::string_view text) noexcept {
  for (auto s : {health_status::unknown, health_status::passing,
                 health_status::warning, health_status::critical})
    if (to_string(s) == text) return s;
  return std::nullopt;
}

expected<service_instance> parse_stored_instance(const nlohmann::json& j) {
  auto x = parse_instance(j);
  if (!x) return x;
  if (auto i = j.find("status"); i != j.end() && i->is_string())
    if (auto s = parse_health_status(i->get_ref<const std::string&>()))
      x->status = *s;
  if (auto i = j.find("node"); i != j.end() && i->is_string())
    x->node = i->get<std::string>();
  if (auto i = j.find("activeRequests");
      i != j.end() && i->is_number_unsigned())
    x->active_requests = i->get<uint32_t>();
  return x;
}

}  // namespace valmesh
