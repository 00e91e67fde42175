#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/all.hpp>

#include "actors/introspection.hpp"

#include "actors/breaker.hpp"
#include "actors/protocol.hpp"
#include "runtime/common/clock.hpp"
#include "runtime/mesh/mesh_policy.hpp"
#include "runtime/mesh/service_pool.hpp"

namespace valmesh {

/// A permit to call one instance, with the breaker that wants the outcome.
struct mesh_grant {
  pool_grant grant;
  breaker_actor breaker;
};

/// How a queued `acquire` is answered: called once, from whichever thread
/// frees the permit or expires the wait; the caller posts it to its own
/// executor. Node-local.
using grant_fn = std::function<void(expected<mesh_grant>)>;

/// The bulkhead's figures, for introspection and tests. Node-local.
struct bulkhead_view {
  std::string service;
  uint32_t in_flight = 0;
  size_t queued = 0;
  std::vector<service_pool::member> members;
};

/// The state of one service's bulkhead: its `service_pool` (permits, queue,
/// instance choice, breaker mirror) with the waiting callers and the
/// breakers' handles, behind one mutex.
///
/// The bulkhead actor owns it and is the only writer of membership and
/// breaker states (its messages). Callers on I/O threads take and return
/// permits through it directly: the hot path then costs a lock instead of
/// an actor round trip (docs/ARCHITECTURE.md, "the mesh hot path", has the
/// measurements that led here). `mesh_dispatch: "actor"` sends every
/// acquire through the actor instead.
class bulkhead_gate {
 public:
  bulkhead_gate(bulkhead_options options, lb_strategy strategy, uint64_t seed);

  /// The result of `acquire`: a grant or a failure now, or nothing: the
  /// call waits in the queue and `done` will be called.
  using now_or_later = std::optional<expected<mesh_grant>>;

  /// Takes a permit and an instance. Nothing means the call waits (`done`
  /// was taken; its owner must make sure the expiry timer runs).
  now_or_later acquire(std::vector<std::string> exclude, grant_fn& done,
                       clock::time_point now);

  /// `acquire` for a call that would rather not wait: nothing when no
  /// permit is free (then the caller prepares a callback and calls
  /// `acquire`). Saves the callback's cost on the common path.
  now_or_later try_acquire(const std::vector<std::string>& exclude,
                           clock::time_point now);

  /// Returns a permit; the waiter that takes it over is answered.
  void release(const std::string& id, uint64_t generation, bool unused);

  /// Answers the waiters whose queue timeout passed.
  void expire(clock::time_point now);

  std::optional<clock::time_point> next_timeout() const;

  void upsert(const service_instance& x, breaker_actor breaker,
              uint64_t generation);
  void remove(const std::string& id);
  void set_breaker(const breaker_update& u);

  bulkhead_view view(const std::string& service) const;

  /// Those of `ids` whose breaker is open.
  std::vector<std::string> open_among(
      const std::vector<std::string>& ids) const;

 private:
  expected<mesh_grant> with_breaker(expected<pool_grant> g) const;
  mesh_grant with_breaker(pool_grant&& g) const;
  /// A decision that is not `queued`, as the caller's answer.
  expected<mesh_grant> answer_now(service_pool::decision& d) const;
  /// Calls the waiters' callbacks (outside the lock).
  void answer(std::vector<std::pair<grant_fn, expected<mesh_grant>>>& xs);
  std::vector<std::pair<grant_fn, expected<mesh_grant>>> take(
      std::vector<service_pool::handoff> handoffs);

  mutable std::mutex mtx_;
  service_pool pool_;
  std::unordered_map<std::string, breaker_actor> breakers_;
  std::unordered_map<service_pool::ticket, grant_fn> waiting_;
  service_pool::ticket next_ticket_ = 0;
};

/// `bulkhead/<service>`: owns the service's `bulkhead_gate`, applies the
/// breakers' changes to it, and runs the queue's expiry timer
/// (docs/ARCHITECTURE.md, "The mesh call path"). The gate's members come
/// from `mesh_supervisor`, which writes them before it publishes the gate.
using bulkhead_actor = caf::typed_actor<
    inspectable,
    /// Asks for a permit, avoiding the instances already tried (the
    /// message path; the gate answers the same).
    caf::reacts_to<acquire_atom, std::vector<std::string>, grant_fn>,
    /// Ends a granted call on (id, generation); true: it never went out.
    caf::reacts_to<release_atom, std::string, uint64_t, bool>,
    /// A breaker's transition.
    caf::reacts_to<breaker_atom, breaker_update>,
    /// Expires waiters past their queue timeout and arms the timer for the
    /// next; callers send it with 0 when a call starts waiting, the timer
    /// with its own number.
    caf::reacts_to<tick_atom, uint64_t>,
    caf::replies_to<stats_atom>::with<bulkhead_view>>;

struct bulkhead_actor_options {
  std::string service;
  call_policy policy;
  std::shared_ptr<const clock> time;
  /// The gate to own; made from `policy` when empty.
  std::shared_ptr<bulkhead_gate> gate;
  uint64_t seed = 0;  ///< 0: from the OS
};

/// Makes a service's gate from its policy.
std::shared_ptr<bulkhead_gate> make_bulkhead_gate(const call_policy& policy,
                                                  uint64_t seed = 0);

bulkhead_actor spawn_bulkhead(caf::actor_system& sys,
                              bulkhead_actor_options options);

}  // namespace valmesh

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(valmesh::grant_fn)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(valmesh::bulkhead_view)
