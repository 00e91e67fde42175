#pragma once

// The translation between Consul's HTTP API (docs/CONSUL.md) and valmesh's
// catalog: Consul's durations, its registration bodies (keys matched
// case-insensitively, snake_case accepted) and its JSON shapes. Plain
// logic: no I/O, no actors.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "runtime/common/error.hpp"
#include "runtime/registry/service_instance.hpp"

namespace valmesh::consul {

using json = nlohmann::json;

/// Blocking queries wait 5 minutes unless told otherwise, 10 at most.
inline constexpr std::chrono::milliseconds default_wait{5 * 60 * 1000};
inline constexpr std::chrono::milliseconds max_wait{10 * 60 * 1000};

/// Consul's datacenter name; valmesh has one.
inline constexpr std::string_view datacenter = "dc1";

/// Metadata keys under this prefix hold what a Consul registration said
/// about its checks; Consul reserves the prefix, so no Consul client can
/// set them, and they are not shown in Consul's `Meta`.
inline constexpr std::string_view reserved_prefix = "consul-";

/// Parses a Go duration (`time.ParseDuration`): a sequence of decimal
/// numbers, each with an optional fraction and a unit `ns`, `us`, `µs`,
/// `ms`, `s`, `m` or `h` (`300ms`, `1.5h`, `2m30s`); `0` alone is zero.
/// Rounds down to milliseconds. Nothing on a sign, a missing unit or
/// overflow.
std::optional<std::chrono::milliseconds> parse_go_duration(
    std::string_view text);

/// Formats `d` as Go prints a duration: `0s`, `250ms`, `10s`, `1m30s`,
/// `2h0m0s`.
std::string format_go_duration(std::chrono::milliseconds d);

/// The `index` and `wait` of a blocking query.
struct blocking_query {
  uint64_t index = 0;  ///< 0: answer at once
  std::chrono::milliseconds wait = default_wait;
};

/// Reads `index` and `wait` as Consul does: `wait` a Go duration, capped at
/// 10 minutes, 5 by default. The failure's message is Consul's ("Invalid
/// wait time", "Invalid index").
expected<blocking_query> parse_blocking_query(
    const std::optional<std::string>& index,
    const std::optional<std::string>& wait);

/// `wait` plus up to `wait / 16` of jitter (as Consul spreads wake-ups);
/// `random` is any random number.
std::chrono::milliseconds with_jitter(std::chrono::milliseconds wait,
                                      uint64_t random);

/// The canonical form of a key for matching: lower case without
/// underscores, so `DeregisterCriticalServiceAfter`,
/// `deregistercriticalserviceafter` and `deregister_critical_service_after`
/// are one key.
std::string fold_key(std::string_view key);

/// One check of a registration.
struct check_definition {
  std::string id;    ///< CheckID; defaults to `service:<id>` (`:N` if several)
  std::string name;  ///< Name; defaults to "Service '<name>' check"
  std::string http;  ///< the HTTP check's URL; empty for a TTL check
  std::chrono::milliseconds interval{0};
  std::chrono::milliseconds timeout{0};
  std::chrono::milliseconds ttl{0};
  std::chrono::milliseconds deregister_after{0};
  std::optional<health_status> status;  ///< the initial status, if given
  std::string notes;
};

/// A `PUT /v1/agent/service/register` body as valmesh stores it.
struct registration {
  service_instance instance;  ///< what the catalog keeps (reserved metadata
                              ///< included)
  std::vector<check_definition> checks;
  /// The status to set right after registering: a check's `Status`, or
  /// `passing` for a service without checks (Consul counts it healthy).
  std::optional<health_status> initial_status;
};

/// Parses a registration body. `default_host` is the address of a service
/// registered without `Address` (Consul would use the node's). Errors are
/// `invalid_argument` with a message for the client.
expected<registration> parse_registration(const json& body,
                                          const std::string& default_host);

/// Consul's name of a status: `unknown` (no result yet) is `critical`, the
/// state of a new Consul check.
std::string_view check_status(health_status s) noexcept;

/// The node an entry is shown on.
struct node_info {
  std::string name;
  std::string address;  ///< host only
};

/// A stable UUID for a node name (Consul nodes have an `ID`).
std::string node_id(std::string_view name);

/// The checks Consul shows for an instance: `serfHealth` of its node, then
/// the instance's TTL and HTTP checks (its status in each).
json checks_json(const service_instance& x, const node_info& node);

/// An instance as `GET /v1/agent/services` shows it (an `AgentService`).
json agent_service_json(const service_instance& x);

/// An instance as `GET /v1/catalog/service/:name` shows it.
json catalog_service_json(const service_instance& x, const node_info& node);

/// An instance as `GET /v1/health/service/:name` shows it: `Node`,
/// `Service` and `Checks`.
json health_entry_json(const service_instance& x, const node_info& node);

/// A node as `GET /v1/catalog/nodes` shows it.
json node_json(const node_info& node);

/// `GET /v1/catalog/services`: each service's name and the union of its
/// instances' tags.
json catalog_services_json(const std::vector<service_instance>& all);

/// The filters of `GET /v1/health/service/:name`.
struct health_filter {
  bool passing = false;           ///< only instances whose checks all pass
  std::vector<std::string> tags;  ///< instances carrying every tag
  std::vector<std::pair<std::string, std::string>> node_meta;
};

/// Whether `x` passes `f` (node metadata is empty in valmesh, so any
/// `node-meta` filter leaves nothing).
bool admits(const health_filter& f, const service_instance& x);

/// The TTL check an id names: `service:<id>` (or `service:<id>:N`) or the
/// `CheckID` given at registration. Nothing if no instance of `all` has it.
struct check_target {
  std::string service;
  std::string id;
  bool ttl = false;  ///< a TTL check (only these take pass/warn/fail)
};
std::optional<check_target> find_check(const std::vector<service_instance>& all,
                                       const std::string& check_id);

}  // namespace valmesh::consul
