#include "actors/breaker.hpp"

namespace valmesh {

namespace {

struct breaker_state_holder {
  static inline const char* name = "breaker";
  breaker_actor_options options;
  std::unique_ptr<circuit_breaker> cb;
  uint64_t generation = 0;
};

using breaker_pointer = metered_pointer<breaker_actor, breaker_state_holder>;

breaker_update current(breaker_pointer self) {
  auto& st = self->state;
  return {st.options.service, st.options.id,
          st.cb->state(st.options.time->now()), st.generation,
          st.cb->options().half_open_calls};
}

/// Applies a transition: a new generation, the push, and for `open` the
/// timer that turns it half-open.
void moved(breaker_pointer self, const circuit_breaker::transition& t) {
  auto& st = self->state;
  ++st.generation;
  breaker_update u{st.options.service, st.options.id, t.to, st.generation,
                   st.cb->options().half_open_calls};
  if (st.options.on_transition) st.options.on_transition(u, t.from);
  if (t.to == breaker_state::open)
    self->delayed_send(self, st.cb->options().open_duration,
                       advance_atom::value, st.generation);
}

void record(breaker_pointer self, const breaker_outcome& o) {
  auto& st = self->state;
  // A call granted before the last transition is a straggler: it was
  // admitted under other rules and must not judge this state.
  if (o.generation != st.generation) return;
  auto now = st.options.time->now();
  auto took = std::chrono::ceil<clock::duration>(
      std::chrono::microseconds{o.latency_us});
  auto t =
      o.failed ? st.cb->on_failure(took, now) : st.cb->on_success(took, now);
  if (t) moved(self, *t);
}

breaker_actor::behavior_type breaker_impl(breaker_pointer self,
                                          breaker_actor_options options) {
  auto& st = self->state;
  st.cb = std::make_unique<circuit_breaker>(options.breaker);
  st.generation = options.generation;
  st.options = std::move(options);
  return {
      [self](inspect_atom) { return self->figures("breaker"); },
      [self](outcome_atom, const std::vector<breaker_outcome>& xs) {
        for (auto& x : xs) record(self, x);
      },
      [self](advance_atom, uint64_t generation) {
        auto& st = self->state;
        if (generation != st.generation) return;
        auto now = st.options.time->now();
        if (auto t = st.cb->advance(now)) return moved(self, *t);
        // The timer fired before the clock says so: wait for the rest.
        if (st.cb->state(now) == breaker_state::open)
          self->delayed_send(self, st.cb->open_until() - now,
                             advance_atom::value, generation);
      },
      [self](checked_atom) {
        auto& st = self->state;
        if (auto t = st.cb->half_open_now(st.options.time->now()))
          moved(self, *t);
      },
      [self](get_atom) { return current(self); },
  };
}

}  // namespace

breaker_actor spawn_breaker(caf::actor_system& sys,
                            breaker_actor_options options) {
  return sys.spawn(breaker_impl, std::move(options));
}

}  // namespace valmesh
