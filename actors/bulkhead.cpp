#include "actors/bulkhead.hpp"

#include <string_view>
#include <unordered_set>

#include "runtime/common/random.hpp"

namespace valmesh {

// -- bulkhead_gate ------------------------------------------------------------

bulkhead_gate::bulkhead_gate(bulkhead_options options, lb_strategy strategy,
                             uint64_t seed)
    : pool_(options, strategy, seed) {}

expected<mesh_grant> bulkhead_gate::with_breaker(expected<pool_grant> g) const {
  if (!g) return std::move(g).error();
  return with_breaker(std::move(*g));
}

mesh_grant bulkhead_gate::with_breaker(pool_grant&& g) const {
  auto i = breakers_.find(g.id);
  return mesh_grant{std::move(g),
                    i == breakers_.end() ? breaker_actor{} : i->second};
}

std::vector<std::pair<grant_fn, expected<mesh_grant>>> bulkhead_gate::take(
    std::vector<service_pool::handoff> handoffs) {
  std::vector<std::pair<grant_fn, expected<mesh_grant>>> out;
  for (auto& [t, g] : handoffs) {
    auto i = waiting_.find(t);
    if (i == waiting_.end()) continue;
    out.emplace_back(std::move(i->second), with_breaker(std::move(g)));
    waiting_.erase(i);
  }
  return out;
}

void bulkhead_gate::answer(
    std::vector<std::pair<grant_fn, expected<mesh_grant>>>& xs) {
  for (auto& [done, g] : xs) done(std::move(g));
}

expected<mesh_grant> bulkhead_gate::answer_now(
    service_pool::decision& d) const {
  if (d.grant) return with_breaker(std::move(*d.grant));
  return std::move(*d.error);
}

bulkhead_gate::now_or_later bulkhead_gate::acquire(
    std::vector<std::string> exclude, grant_fn& done, clock::time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto t = ++next_ticket_;
  auto d = pool_.acquire(t, std::move(exclude), now);
  if (d.what != service_pool::decision::kind::queued) return answer_now(d);
  waiting_.emplace(t, std::move(done));
  return std::nullopt;
}

bulkhead_gate::now_or_later bulkhead_gate::try_acquire(
    const std::vector<std::string>& exclude, clock::time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (pool_.queued() > 0 || pool_.in_flight() >= pool_.options().max_concurrent)
    return std::nullopt;
  auto d = pool_.acquire(++next_ticket_, exclude, now);  // granted or failed
  return answer_now(d);
}

void bulkhead_gate::release(const std::string& id, uint64_t generation,
                            bool unused) {
  std::vector<std::pair<grant_fn, expected<mesh_grant>>> ready;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    ready = take(pool_.release(id, generation, unused));
  }
  answer(ready);
}

void bulkhead_gate::expire(clock::time_point now) {
  std::vector<std::pair<grant_fn, expected<mesh_grant>>> ready;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    ready = take(pool_.expire(now));
  }
  answer(ready);
}

std::optional<clock::time_point> bulkhead_gate::next_timeout() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return pool_.next_timeout();
}

void bulkhead_gate::upsert(const service_instance& x, breaker_actor breaker,
                           uint64_t generation) {
  std::lock_guard<std::mutex> guard{mtx_};
  pool_.upsert(x, generation);
  breakers_[x.id] = std::move(breaker);
}

void bulkhead_gate::remove(const std::string& id) {
  std::lock_guard<std::mutex> guard{mtx_};
  pool_.remove(id);
  breakers_.erase(id);
}

void bulkhead_gate::set_breaker(const breaker_update& u) {
  std::lock_guard<std::mutex> guard{mtx_};
  pool_.set_breaker(u.id, u.state, u.generation, u.trials);
}

bulkhead_view bulkhead_gate::view(const std::string& service) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return {service, pool_.in_flight(), pool_.queued(), pool_.members()};
}

std::vector<std::string> bulkhead_gate::open_among(
    const std::vector<std::string>& ids) const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::string> out;
  std::vector<const std::string*> open;
  for (auto& m : pool_.members())
    if (m.breaker == breaker_state::open) open.push_back(&m.id);
  if (open.empty()) return out;  // the usual case: one pass, no lookups
  std::unordered_set<std::string_view> passed{ids.begin(), ids.end()};
  for (auto* id : open)
    if (passed.count(*id) > 0) out.push_back(*id);
  return out;
}

std::shared_ptr<bulkhead_gate> make_bulkhead_gate(const call_policy& policy,
                                                  uint64_t seed) {
  return std::make_shared<bulkhead_gate>(policy.bulkhead, policy.strategy,
                                         seed ? seed : random_seed());
}

// -- the actor ----------------------------------------------------------------

namespace {

struct bulkhead_state {
  static inline const char* name = "bulkhead";
  bulkhead_actor_options options;
  /// When the armed expiry timer fires (none armed: nullopt), and its number.
  std::optional<clock::time_point> timer_at;
  uint64_t timer_seq = 0;
};

using bulkhead_pointer = metered_pointer<bulkhead_actor, bulkhead_state>;

/// Expires what is due and arms the timer for the oldest waiter, unless one
/// already fires earlier.
void tick(bulkhead_pointer self, uint64_t seq) {
  auto& st = self->state;
  auto now = st.options.time->now();
  if (seq != 0 && seq == st.timer_seq) st.timer_at.reset();  // it fired
  st.options.gate->expire(now);
  auto next = st.options.gate->next_timeout();
  if (!next || (st.timer_at && *st.timer_at <= *next)) return;
  st.timer_at = *next;
  auto delay = std::max(std::chrono::ceil<clock::duration>(*next - now),
                        clock::duration{1});
  self->delayed_send(self, delay, tick_atom::value, ++st.timer_seq);
}

bulkhead_actor::behavior_type bulkhead_impl(bulkhead_pointer self,
                                            bulkhead_actor_options options) {
  if (!options.gate)
    options.gate = make_bulkhead_gate(options.policy, options.seed);
  self->state.options = std::move(options);
  return {
      [self](inspect_atom) { return self->figures("bulkhead"); },
      [self](acquire_atom, std::vector<std::string>& exclude, grant_fn& done) {
        auto& st = self->state;
        auto r = st.options.gate->acquire(std::move(exclude), done,
                                          st.options.time->now());
        if (r) return done(std::move(*r));
        tick(self, 0);
      },
      [self](release_atom, const std::string& id, uint64_t generation,
             bool unused) {
        self->state.options.gate->release(id, generation, unused);
      },
      [self](breaker_atom, const breaker_update& u) {
        self->state.options.gate->set_breaker(u);
      },
      [self](tick_atom, uint64_t seq) { tick(self, seq); },
      [self](stats_atom) {
        auto& st = self->state;
        return st.options.gate->view(st.options.service);
      },
  };
}

}  // namespace

bulkhead_actor spawn_bulkhead(caf::actor_system& sys,
                              bulkhead_actor_options options) {
  return sys.spawn(bulkhead_impl, std::move(options));
}

}  // namespace valmesh
