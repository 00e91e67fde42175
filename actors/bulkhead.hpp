#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/breaker.hpp"
#include "actors/protocol.hpp"
#include "runtime/clock.hpp"
#include "runtime/mesh_policy.hpp"
#include "runtime/service_pool.hpp"

namespace valmesh {

/// A permit to call one instance, with the breaker that wants the outcome.
struct mesh_grant {
  pool_grant grant;
  breaker_actor breaker;
};

/// How a bulkhead answers an `acquire`: called once, on the bulkhead's
/// thread; the caller posts it to its own executor. Node-local.
using grant_fn = std::function<void(expected<mesh_grant>)>;

/// The bulkhead's figures, for introspection and tests. Node-local.
struct bulkhead_view {
  std::string service;
  uint32_t in_flight = 0;
  size_t queued = 0;
  std::vector<service_pool::member> members;
};

/// `bulkhead/<service>`: permits, the bounded queue, and the choice of an
/// instance whose breaker admits the call (DESIGN §3). One round trip per
/// attempt (`acquire` → `grant_fn`) and one one-way `release`.
using bulkhead_actor = caf::typed_actor<
    /// Asks for a permit, avoiding the instances already tried.
    caf::reacts_to<acquire_atom, std::vector<std::string>, grant_fn>,
    /// Ends a granted call on (id, generation); true: it never went out.
    caf::reacts_to<release_atom, std::string, uint64_t, bool>,
    /// A breaker's transition.
    caf::reacts_to<breaker_atom, breaker_update>,
    /// Adds or updates an instance with its breaker (and the breaker's
    /// first generation).
    caf::reacts_to<watch_atom, service_instance, breaker_actor, uint64_t>,
    /// Removes an instance.
    caf::reacts_to<unwatch_atom, std::string>,
    /// Internal: expires waiters past their queue timeout.
    caf::reacts_to<tick_atom>,
    caf::replies_to<stats_atom>::with<bulkhead_view>>;

struct bulkhead_actor_options {
  std::string service;
  call_policy policy;
  std::shared_ptr<const clock> time;
  uint64_t seed = 0;  ///< 0: from the OS
};

bulkhead_actor spawn_bulkhead(caf::actor_system& sys,
                              bulkhead_actor_options options);

}  // namespace valmesh

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(valmesh::grant_fn)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(valmesh::bulkhead_view)
