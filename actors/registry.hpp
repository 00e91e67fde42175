#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/introspection.hpp"

#include "actors/protocol.hpp"
#include "actors/store.hpp"
#include "runtime/common/clock.hpp"
#include "runtime/registry/catalog.hpp"

namespace valmesh {

/// The catalog of services and instances of one node.
using registry_actor = caf::typed_actor<
    inspectable,
    /// Registers or updates an instance; answers it as stored (with its id).
    caf::replies_to<register_atom, service_instance>::with<service_instance>,
    /// Removes instance (name, id); answers it as it was. `not_found` if
    /// absent.
    caf::replies_to<deregister_atom, std::string,
                    std::string>::with<service_instance>,
    /// Renews the TTL lease of (name, id). `conflict` if it has no lease.
    caf::replies_to<heartbeat_atom, std::string,
                    std::string>::with<service_instance>,
    /// Renews the lease of (name, id) with a status and a check output
    /// (Consul's pass, warn and fail of a TTL check).
    caf::replies_to<heartbeat_atom, std::string, std::string, health_status,
                    std::string>::with<service_instance>,
    /// Sets the health status of (name, id) (the health checkers' entry point).
    caf::replies_to<status_atom, std::string, std::string,
                    health_status>::with<service_instance>,
    /// Lists all services, one summary each, ordered by name.
    caf::replies_to<list_atom>::with<std::vector<service_summary>>,
    /// Answers the instances of one service, ordered by id. `not_found` if
    /// none.
    caf::replies_to<get_atom, std::string>::with<std::vector<service_instance>>,
    /// Picks one instance of a service. `not_found` for an unknown service,
    /// `no_healthy_instance` when none qualifies.
    caf::replies_to<resolve_atom, std::string,
                    resolve_options>::with<service_instance>,
    /// Records a batch of health checks of one service's instances: status
    /// and lastCheck of each. One-way: checkers do not wait.
    caf::reacts_to<check_atom, std::string, std::vector<check_report>>,
    /// Applies writes replicated from other nodes (last writer wins per
    /// entry); persists and publishes what changed. One-way.
    caf::reacts_to<merge_atom, std::vector<catalog_entry>>,
    /// Answers the anti-entropy digest of the catalog.
    caf::replies_to<digest_atom>::with<catalog_digest>,
    /// Answers every entry, live or deleted, in the digest's buckets given.
    caf::replies_to<entries_atom,
                    std::vector<uint32_t>>::with<std::vector<catalog_entry>>,
    /// The alive members changed: asks again which instances this node
    /// judges (fresh leases for those it takes over). One-way.
    caf::reacts_to<rejudge_atom>,
    /// Answers every instance (for subscribers that rebuild after a restart).
    caf::replies_to<snapshot_atom>::with<std::vector<service_instance>>,
    /// Internal: applies lease expiry (sent to itself on a timer).
    caf::reacts_to<tick_atom>>;

/// How a registry is spawned.
struct registry_options {
  std::shared_ptr<const clock> time;  ///< source of time for leases
  catalog_options catalog;
  /// How often leases and removals are applied.
  std::chrono::milliseconds tick_interval{std::chrono::milliseconds{250}};
  uint64_t seed = 0;  ///< 0: seed the balancers from the OS
  /// Called inside the registry with the changes (registration, update,
  /// removal, status change) of each message it handled, in order: one
  /// call for a whole replicated batch or round of checks. For publishing;
  /// must not block.
  std::function<void(std::vector<catalog_change>)> on_change;
  /// The current store (a getter, so a restart of the store is invisible).
  /// When set, the registry loads its catalog from it before serving
  /// anything, and acknowledges a registration, an update or a
  /// deregistration only once the store made it durable. Unset: nothing is
  /// persisted (tests of the registry alone).
  std::function<store_actor()> store;
  /// How long the registry waits for the store to make a change durable
  /// before failing the request with `unavailable`.
  std::chrono::milliseconds store_timeout{std::chrono::seconds{10}};
  /// How long it waits for its catalog on start (the store decodes every
  /// instance) before exiting to be restarted.
  std::chrono::milliseconds load_timeout{std::chrono::seconds{60}};
};

/// Spawns a registry; with a store, its catalog is the store's contents.
registry_actor spawn_registry(caf::actor_system& sys, registry_options options);

}  // namespace valmesh
