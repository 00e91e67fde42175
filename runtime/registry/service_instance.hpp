#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "runtime/cluster/hlc.hpp"
#include "runtime/common/error.hpp"

namespace valmesh {

/// Health of one instance, with Consul's names.
enum class health_status : uint8_t { unknown, passing, warning, critical };

/// Returns "unknown", "passing", "warning" or "critical".
std::string_view to_string(health_status x) noexcept;

/// `healthyOnly` admits passing and warning instances.
inline bool is_healthy(health_status x) noexcept {
  return x == health_status::passing || x == health_status::warning;
}

/// One registered instance of a service, as docs/API.md defines it. The catalog
/// owns the bookkeeping fields (status, timestamps, node, indexes); a client
/// sets the rest.
struct service_instance {
  std::string id;    ///< unique per service; defaults to NAME-<random>
  std::string name;  ///< the service
  std::string version;
  std::string host;
  uint16_t port = 0;
  std::string protocol = "http";
  std::string health_endpoint = "/health";
  uint32_t weight = 1;
  std::vector<std::string> tags;
  std::map<std::string, std::string> metadata;
  int64_t ttl_ms = 0;  ///< lease length; 0 = no lease

  health_status status = health_status::unknown;
  int64_t registered_at_ms = 0;   ///< Unix ms of the first registration
  int64_t last_heartbeat_ms = 0;  ///< Unix ms of the last renewal; 0 = none
  std::string node;               ///< the node that owns the registration
  uint32_t active_requests = 0;   ///< calls in flight through this node
  uint64_t create_index = 0;      ///< catalog index that created the entry
  uint64_t modify_index = 0;      ///< catalog index of the last change
  int64_t last_check_ms = 0;  ///< Unix ms of the last health check; 0 = none
  int64_t last_check_duration_us = 0;
  std::string last_check_output;  ///< "HTTP 200", "timeout after 5000ms", ...
  /// The version of the last write to this entry anywhere in the cluster
  /// (its hybrid-clock stamp and the node that made it): replicas keep the
  /// entry with the greatest one.
  write_version revision;
  /// The version of the registration (or update through the API) this
  /// entry carries. Status, heartbeat and lease writes stamp `revision`
  /// and keep it. Replicas order writes to one instance by (registered,
  /// revision), and a removal by its own revision in both places: so a
  /// health check that a node ran before it heard of a removal cannot
  /// bring the instance back, and a status written for an old registration
  /// cannot undo a newer one. Zero (a record from before it was kept):
  /// the same as `revision`.
  write_version registered;

  friend bool operator==(const service_instance&,
                         const service_instance&) = default;
};

/// A deletion, kept so that a replica that missed it learns of it and a late
/// write older than it cannot bring the instance back.
struct tombstone {
  std::string name;
  std::string id;
  std::string node;           ///< the node that owned the registration
  uint64_t index = 0;         ///< this node's catalog index of the removal
  write_version revision;     ///< the version of the removal
  int64_t removed_at_ms = 0;  ///< Unix ms when this node learned of it

  friend bool operator==(const tombstone&, const tombstone&) = default;
};

/// A line of `GET /api/services`.
struct service_summary {
  std::string name;
  uint32_t instance_count = 0;
  uint32_t passing_count = 0;
  std::vector<std::string> versions;  ///< distinct, sorted

  friend bool operator==(const service_summary&,
                         const service_summary&) = default;
};

/// Limits of an instance's fields, each a named constant.
namespace limits {
inline constexpr size_t max_name_length = 63;
inline constexpr size_t max_id_length = 128;
inline constexpr size_t max_host_length = 253;
inline constexpr size_t max_version_length = 64;
inline constexpr size_t max_tags = 64;
inline constexpr size_t max_tag_length = 255;
inline constexpr size_t max_metadata_keys = 64;
inline constexpr size_t max_metadata_value_length = 512;
inline constexpr size_t max_path_length = 1024;
inline constexpr uint32_t max_weight = 1000;
inline constexpr int64_t max_ttl_ms = 24 * 3600 * 1000;
}  // namespace limits

/// Checks a service name: `[A-Za-z0-9][A-Za-z0-9._-]{0,62}`.
bool valid_service_name(std::string_view name) noexcept;

/// Checks an instance id: 1..128 of `[A-Za-z0-9._:-]`, so it is safe in a URL
/// path segment.
bool valid_instance_id(std::string_view id) noexcept;

/// Builds an instance from client JSON (a registration body or a config
/// entry) and validates it. Read-only fields that the catalog owns
/// (`status`, `registeredAt`, `lastHeartbeat`, `lastCheck`, `node`,
/// `activeRequests`) are accepted and ignored, so an instance read from the
/// API can be posted back; any other unknown key is an error that names it.
expected<service_instance> parse_instance(const nlohmann::json& j);

/// Validates an instance built in C++ (the embedding API) with the same rules.
expected<service_instance> validate_instance(service_instance x);

/// Renders an instance as the API's JSON.
nlohmann::json to_json(const service_instance& x);

/// Renders a summary line of `GET /api/services`.
nlohmann::json to_json(const service_summary& x);

/// Formats Unix milliseconds as RFC 3339 UTC with milliseconds.
std::string format_unix_ms(int64_t unix_ms);

/// `format_unix_ms(unix_ms)` as JSON, or null for 0 ("never").
nlohmann::json timestamp_or_null(int64_t unix_ms);

}  // namespace valmesh

namespace valmesh {

/// Reads an instance as the API renders it, including the fields the catalog
/// owns (`status`, `node`, `activeRequests`), for clients of a node.
expected<service_instance> parse_stored_instance(const nlohmann::json& j);

/// Parses "unknown", "passing", "warning" or "critical".
std::optional<health_status> parse_health_status(
    std::string_view text) noexcept;

}  // namespace valmesh
