#pragma once

// The messages of valmesh's actors: atoms, message structs with their
// `inspect` overloads, and one function that registers them all on an
// `actor_system_config`. `main` and every test call `add_message_types`.

#include <functional>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "runtime/registry/catalog.hpp"
#include "runtime/health/check_schedule.hpp"
#include "runtime/mesh/circuit_breaker.hpp"
#include "runtime/store/durable_store.hpp"
#include "runtime/cluster/membership.hpp"
#include "runtime/common/error.hpp"
#include "runtime/health/health_rules.hpp"
#include "runtime/registry/load_balancer.hpp"
#include "runtime/registry/service_instance.hpp"

namespace valmesh {

// -- atoms (at most 10 characters each) ---------------------------------------

using register_atom = caf::atom_constant<caf::atom("register")>;
using deregister_atom = caf::atom_constant<caf::atom("deregister")>;
using heartbeat_atom = caf::atom_constant<caf::atom("heartbeat")>;
using list_atom = caf::atom_constant<caf::atom("list")>;
using get_atom = caf::atom_constant<caf::atom("get")>;
using resolve_atom = caf::atom_constant<caf::atom("resolve")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using snapshot_atom = caf::atom_constant<caf::atom("snapshot")>;
using check_atom = caf::atom_constant<caf::atom("check")>;
using checked_atom = caf::atom_constant<caf::atom("checked")>;
using watch_atom = caf::atom_constant<caf::atom("watch")>;
using unwatch_atom = caf::atom_constant<caf::atom("unwatch")>;
using changed_atom = caf::atom_constant<caf::atom("changed")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using publish_atom = caf::atom_constant<caf::atom("publish")>;
using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;
using unsub_atom = caf::atom_constant<caf::atom("unsub")>;
using resync_atom = caf::atom_constant<caf::atom("resync")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using acquire_atom = caf::atom_constant<caf::atom("acquire")>;
using release_atom = caf::atom_constant<caf::atom("release")>;
using outcome_atom = caf::atom_constant<caf::atom("outcome")>;
using breaker_atom = caf::atom_constant<caf::atom("breaker")>;
using advance_atom = caf::atom_constant<caf::atom("advance")>;
using append_atom = caf::atom_constant<caf::atom("append")>;
using load_atom = caf::atom_constant<caf::atom("load")>;
using spans_atom = caf::atom_constant<caf::atom("spans")>;
using exported_atom = caf::atom_constant<caf::atom("exported")>;
// The cluster (messages that cross the network between nodes).
using merge_atom = caf::atom_constant<caf::atom("merge")>;
using digest_atom = caf::atom_constant<caf::atom("digest")>;
using entries_atom = caf::atom_constant<caf::atom("entries")>;
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using ping_req_atom = caf::atom_constant<caf::atom("ping_req")>;
using gossip_atom = caf::atom_constant<caf::atom("gossip")>;
using sync_atom = caf::atom_constant<caf::atom("sync")>;
using join_atom = caf::atom_constant<caf::atom("join")>;
using members_atom = caf::atom_constant<caf::atom("members")>;
using leave_atom = caf::atom_constant<caf::atom("leave")>;
using push_atom = caf::atom_constant<caf::atom("push")>;
using peers_atom = caf::atom_constant<caf::atom("peers")>;
using tree_atom = caf::atom_constant<caf::atom("tree")>;
using rejudge_atom = caf::atom_constant<caf::atom("rejudge")>;
using reach_atom = caf::atom_constant<caf::atom("reach")>;
using auth_atom = caf::atom_constant<caf::atom("auth")>;

/// The error category of `errc` inside a `caf::error`.
inline constexpr caf::atom_value errc_category = caf::atom("valmesh");

/// Wraps a project error into a `caf::error` (category "valmesh"); the
/// message travels as the error's context.
caf::error make_error(errc code, std::string message);

/// Wraps a `failure` from runtime/ into a `caf::error`.
caf::error make_error(failure f);

/// The inverse of `make_error`, for the HTTP layer. Errors of other
/// categories (timeouts, dead actors) become `unavailable` or `timeout`.
failure to_failure(const caf::error& err);

// -- message structs ----------------------------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, resolve_options& x) {
  return f(caf::meta::type_name("resolve_options"), x.strategy, x.healthy_only);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, write_version& x) {
  return f(caf::meta::type_name("write_version"), x.stamp, x.origin);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, service_instance& x) {
  return f(caf::meta::type_name("service_instance"), x.id, x.name, x.version,
           x.host, x.port, x.protocol, x.health_endpoint, x.weight, x.tags,
           x.metadata, x.ttl_ms, x.status, x.registered_at_ms,
           x.last_heartbeat_ms, x.node, x.active_requests, x.create_index,
           x.modify_index, x.last_check_ms, x.last_check_duration_us,
           x.last_check_output, x.revision, x.registered);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, catalog_entry& x) {
  return f(caf::meta::type_name("catalog_entry"), x.instance, x.removed);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, catalog_digest& x) {
  return f(caf::meta::type_name("catalog_digest"), x.buckets);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member& x) {
  return f(caf::meta::type_name("member"), x.name, x.cluster_addr,
           x.http_addr, x.version, x.incarnation, x.status, x.last_seen_ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, service_summary& x) {
  return f(caf::meta::type_name("service_summary"), x.name, x.instance_count,
           x.passing_count, x.versions);
}

/// One instance's health-check figures, for `GET /api/health/services`.
/// Node-local (never crosses the network).
struct instance_check_view {
  std::string service;
  std::string id;
  std::string address;  ///< host:port
  health_status status = health_status::unknown;
  check_stats stats;
  int64_t p99_duration_us = 0;
  /// How late this service's checks started against their schedule (p99 of
  /// the last 1024, µs): the checker's own scheduling delay.
  int64_t lateness_p99_us = 0;
};

/// One check result as a checker reports it to the registry (in batches).
/// Node-local.
struct check_report {
  std::string id;
  health_status status = health_status::unknown;
  int64_t duration_us = 0;
  std::string output;
};

/// The roll-up, for `GET /api/health/aggregated`. Node-local.
struct health_view {
  service_health overall = service_health::healthy;
  struct service_line {
    std::string name;
    service_health health = service_health::healthy;
    bool critical = false;
    std::map<health_status, uint32_t> counts;
  };
  std::vector<service_line> services;
  int64_t checked_at_ms = 0;
};

/// A breaker's state as it pushes it to its bulkhead. Node-local.
struct breaker_update {
  std::string service;
  std::string id;
  breaker_state state = breaker_state::closed;
  uint64_t generation = 0;
  uint32_t trials = 0;  ///< half-open: the trial calls it admits
};

/// Registers every message type above with `cfg`, and the "valmesh" error
/// category so errors render with their names.
void add_message_types(caf::actor_system_config& cfg);

}  // namespace valmesh

// Node-local message types: they never cross the network, so they need no
// serialisation (a remote send of one would be a bug caught in review).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(valmesh::catalog_change)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<valmesh::catalog_change>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(valmesh::check_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<valmesh::check_report>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(valmesh::instance_check_view)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<valmesh::instance_check_view>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(valmesh::health_view)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(valmesh::event_record)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(valmesh::breaker_update)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(valmesh::store_mutation)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(valmesh::store_contents)
