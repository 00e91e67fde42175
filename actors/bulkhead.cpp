#include "actors/bulkhead.hpp"

#include <unordered_map>

#include "runtime/random.hpp"

namespace valmesh {

namespace {

struct bulkhead_state {
  static inline const char* name = "bulkhead";
  bulkhead_actor_options options;
  std::unique_ptr<service_pool> pool;
  std::unordered_map<std::string, breaker_actor> breakers;
  std::unordered_map<service_pool::ticket, grant_fn> waiting;
  service_pool::ticket next_ticket = 0;
  /// When the armed expiry timer fires (none armed: nullopt).
  std::optional<clock::time_point> timer_at;
};

using bulkhead_pointer = bulkhead_actor::stateful_pointer<bulkhead_state>;

expected<mesh_grant> with_breaker(bulkhead_pointer self,
                                  expected<pool_grant> g) {
  if (!g) return std::move(g).error();
  auto i = self->state.breakers.find(g->id);
  return mesh_grant{std::move(*g), i == self->state.breakers.end()
                                       ? breaker_actor{}
                                       : i->second};
}

/// Arms the expiry timer for the oldest waiter, unless one fires earlier.
void arm(bulkhead_pointer self) {
  auto& st = self->state;
  auto next = st.pool->next_timeout();
  if (!next || (st.timer_at && *st.timer_at <= *next)) return;
  st.timer_at = *next;
  auto delay = std::max(
      std::chrono::ceil<clock::duration>(*next - st.options.time->now()),
      clock::duration{1});
  self->delayed_send(self, delay, tick_atom::value);
}

void answer(bulkhead_pointer self,
            std::vector<service_pool::handoff> handoffs) {
  auto& st = self->state;
  for (auto& [t, g] : handoffs) {
    auto i = st.waiting.find(t);
    if (i == st.waiting.end()) continue;
    auto done = std::move(i->second);
    st.waiting.erase(i);
    done(with_breaker(self, std::move(g)));
  }
}

bulkhead_actor::behavior_type bulkhead_impl(bulkhead_pointer self,
                                            bulkhead_actor_options options) {
  auto& st = self->state;
  auto seed = options.seed ? options.seed : random_seed();
  st.pool = std::make_unique<service_pool>(options.policy.bulkhead,
                                           options.policy.strategy, seed);
  st.options = std::move(options);
  return {
      [self](acquire_atom, std::vector<std::string>& exclude, grant_fn& done) {
        auto& st = self->state;
        auto t = ++st.next_ticket;
        auto d =
            st.pool->acquire(t, std::move(exclude), st.options.time->now());
        switch (d.what) {
          case service_pool::decision::kind::granted:
            return done(with_breaker(self, std::move(*d.grant)));
          case service_pool::decision::kind::failed:
            return done(std::move(*d.error));
          case service_pool::decision::kind::queued:
            st.waiting.emplace(t, std::move(done));
            arm(self);
            return;
        }
      },
      [self](release_atom, const std::string& id, uint64_t generation,
             bool unused) {
        answer(self, self->state.pool->release(id, generation, unused));
      },
      [self](breaker_atom, const breaker_update& u) {
        self->state.pool->set_breaker(u.id, u.state, u.generation, u.trials);
      },
      [self](watch_atom, const service_instance& x, breaker_actor& b,
             uint64_t generation) {
        auto& st = self->state;
        st.pool->upsert(x, generation);
        st.breakers[x.id] = std::move(b);
      },
      [self](unwatch_atom, const std::string& id) {
        self->state.pool->remove(id);
        self->state.breakers.erase(id);
      },
      [self](tick_atom) {
        auto& st = self->state;
        st.timer_at.reset();
        answer(self, st.pool->expire(st.options.time->now()));
        arm(self);
      },
      [self](stats_atom) {
        auto& st = self->state;
        return bulkhead_view{st.options.service, st.pool->in_flight(),
                             st.pool->queued(), st.pool->members()};
      },
  };
}

}  // namespace

bulkhead_actor spawn_bulkhead(caf::actor_system& sys,
                              bulkhead_actor_options options) {
  return sys.spawn(bulkhead_impl, std::move(options));
}

}  // namespace valmesh
