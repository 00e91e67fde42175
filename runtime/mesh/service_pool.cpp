#include "runtime/mesh/service_pool.hpp"

#include <algorithm>

namespace valmesh {

service_pool::service_pool(bulkhead_options options, lb_strategy strategy,
                           uint64_t seed)
    : permits_(options), strategy_(strategy), balancer_(seed) {}

service_pool::member* service_pool::find(const std::string& id) {
  auto i = index_.find(id);
  return i == index_.end() ? nullptr : &members_[i->second];
}

void service_pool::upsert(const service_instance& x, uint64_t generation) {
  auto* m = find(x.id);
  if (!m) {
    index_.emplace(x.id, members_.size());
    members_.push_back({});
    m = &members_.back();
    m->id = x.id;
    m->generation = generation;
  } else if (generation > m->generation) {  // a new breaker: closed
    m->generation = generation;
    m->breaker = breaker_state::closed;
    m->trials_left = 0;
  }
  m->address = endpoint{x.host, x.port};
  m->weight = x.weight;
  m->status = x.status;
}

void service_pool::set_status(const std::string& id, health_status status) {
  if (auto* m = find(id)) m->status = status;
}

void service_pool::remove(const std::string& id) {
  auto i = index_.find(id);
  if (i == index_.end()) return;
  // Erased in place, so the others keep their order (round robin walks it).
  auto at = i->second;
  index_.erase(i);
  members_.erase(members_.begin() + static_cast<ptrdiff_t>(at));
  for (auto k = at; k < members_.size(); ++k) index_[members_[k].id] = k;
}

void service_pool::set_breaker(const std::string& id, breaker_state state,
                               uint64_t generation, uint32_t trials) {
  auto* m = find(id);
  if (!m || generation < m->generation) return;
  m->generation = generation;
  m->breaker = state;
  m->trials_left = state == breaker_state::half_open ? trials : 0;
}

expected<pool_grant> service_pool::choose(
    const std::vector<std::string>& exclude) {
  auto admits = [](const member& m) {
    return m.breaker == breaker_state::closed ||
           (m.breaker == breaker_state::half_open && m.trials_left > 0);
  };
  auto excluded = [&](const member& m) {
    return std::find(exclude.begin(), exclude.end(), m.id) != exclude.end();
  };
  bool any_healthy = std::any_of(members_.begin(), members_.end(),
                                 [](auto& m) { return is_healthy(m.status); });
  // Healthy first; unchecked ones only while nothing is known healthy.
  auto usable = [&](const member& m) {
    return any_healthy ? is_healthy(m.status)
                       : m.status == health_status::unknown;
  };
  bool any_usable = false;
  for (int pass = 0; pass < 2; ++pass) {  // pass 1 allows excluded ones
    candidates_.clear();
    candidate_index_.clear();
    for (size_t i = 0; i < members_.size(); ++i) {
      auto& m = members_[i];
      if (!usable(m)) continue;
      any_usable = true;
      if (!admits(m) || (pass == 0 && excluded(m))) continue;
      candidates_.push_back({m.id, m.weight, m.in_flight});
      candidate_index_.push_back(i);
    }
    if (!candidates_.empty()) break;
    if (exclude.empty()) break;
  }
  if (candidates_.empty()) {
    if (members_.empty())
      return failure{errc::no_healthy_instance, "no instance is registered"};
    if (!any_usable)
      return failure{errc::no_healthy_instance,
                     "no instance is passing its health checks"};
    return failure{errc::circuit_open,
                   "the circuit breaker of every healthy instance is open"};
  }
  auto pick = balancer_.pick(strategy_, candidates_);
  auto& m = members_[candidate_index_[*pick]];
  ++m.in_flight;
  if (m.breaker == breaker_state::half_open) --m.trials_left;
  return pool_grant{m.id, m.address, m.generation, m.breaker};
}

service_pool::decision service_pool::acquire(ticket t,
                                             std::vector<std::string> exclude,
                                             clock::time_point now) {
  switch (permits_.acquire(t, now)) {
    case bulkhead::decision::granted: {
      auto g = choose(exclude);
      if (g) return {decision::kind::granted, std::move(*g), std::nullopt};
      // Nothing to call: the permit goes back (nobody waits: a permit is
      // granted at once only while the queue is empty).
      permits_.release();
      return {decision::kind::failed, std::nullopt, std::move(g).error()};
    }
    case bulkhead::decision::queued:
      waiting_.emplace(t, std::move(exclude));
      return {decision::kind::queued, std::nullopt, std::nullopt};
    case bulkhead::decision::rejected:
      break;
  }
  return {
      decision::kind::failed, std::nullopt,
      failure{errc::bulkhead_full,
              "the bulkhead is full: " +
                  std::to_string(permits_.options().max_concurrent) +
                  " calls in flight and " +
                  std::to_string(permits_.options().max_queue) + " waiting"}};
}

void service_pool::hand_down(std::optional<ticket> next,
                             std::vector<handoff>& out) {
  while (next) {
    auto i = waiting_.find(*next);
    std::vector<std::string> exclude;
    if (i != waiting_.end()) {
      exclude = std::move(i->second);
      waiting_.erase(i);
    }
    auto g = choose(exclude);
    bool granted = g.has_value();
    out.emplace_back(*next, std::move(g));
    if (granted) return;
    next = permits_.release();  // this waiter cannot use it: pass it on
  }
}

std::vector<service_pool::handoff> service_pool::release(const std::string& id,
                                                         uint64_t generation,
                                                         bool unused) {
  if (auto* m = find(id)) {
    if (m->in_flight > 0) --m->in_flight;
    if (unused && m->breaker == breaker_state::half_open &&
        m->generation == generation)
      ++m->trials_left;
  }
  std::vector<handoff> out;
  hand_down(permits_.release(), out);
  return out;
}

std::vector<service_pool::handoff> service_pool::expire(clock::time_point now) {
  std::vector<handoff> out;
  for (auto t : permits_.expire(now)) {
    waiting_.erase(t);
    out.emplace_back(
        t,
        failure{errc::bulkhead_full,
                "no permit within the queue timeout of " +
                    std::to_string(
                        std::chrono::duration_cast<std::chrono::milliseconds>(
                            permits_.options().queue_timeout)
                            .count()) +
                    "ms"});
  }
  return out;
}

}  // namespace valmesh
