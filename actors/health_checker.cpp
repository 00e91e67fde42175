#include "actors/health_checker.hpp"

#include <algorithm>
#include <array>
#include <unordered_map>

#include "runtime/common/random.hpp"

namespace valmesh {

namespace {

struct watched {
  probe_target target;
  instance_health health;
  uint64_t generation = 0;  ///< bumps on re-watch; stale answers are dropped
  bool in_flight = false;
};

struct checker_state {
  static inline const char* name = "health_checker";
  checker_options options;
  std::unique_ptr<check_schedule> schedule;
  std::unordered_map<std::string, watched> instances;
  std::optional<clock::time_point> timer_for;  ///< when the armed timer fires
  uint64_t timer_seq = 0;  ///< the armed timer's number; older ones are void
  uint64_t generations = 0;
  std::vector<check_report> outbox;  ///< results not yet sent to the registry
  std::vector<std::string> passed;   ///< ids whose probe passed, since then
  bool flush_armed = false;
  std::array<int64_t, 1024> lateness_us{};  ///< ring of check start lateness
  size_t lateness_count = 0;

  int64_t lateness_p99() const {
    auto n = std::min(lateness_count, lateness_us.size());
    if (n == 0) return 0;
    std::vector<int64_t> xs(lateness_us.begin(), lateness_us.begin() + n);
    auto rank = (n * 99 + 99) / 100 - 1;
    std::nth_element(xs.begin(), xs.begin() + rank, xs.end());
    return xs[rank];
  }
};

using checker_pointer = metered_pointer<health_checker_actor, checker_state>;

/// Sends the gathered results to the registry in one message.
void flush(checker_pointer self) {
  auto& st = self->state;
  if (st.outbox.empty()) return;
  if (auto reg = st.options.registry())
    self->send(reg, check_atom::value, st.options.service,
               std::move(st.outbox));
  st.outbox.clear();
  if (!st.passed.empty() && st.options.on_passed)
    st.options.on_passed(st.options.service, std::move(st.passed));
  st.passed.clear();
}

/// Arms one timer for the earliest due check (re-armed if that moved earlier).
void arm(checker_pointer self) {
  auto& st = self->state;
  auto next = st.schedule->next_due();
  if (!next) return;
  if (st.timer_for && *st.timer_for <= *next) return;
  st.timer_for = *next;
  auto now = st.options.time->now();
  auto delay =
      *next > now
          ? std::chrono::duration_cast<std::chrono::microseconds>(*next - now)
          : std::chrono::microseconds{0};
  // At least one quantum between ticks: a tick then runs every check due so
  // far, instead of one timer (and two thread wake-ups) per check. Checks
  // start at most one quantum late.
  delay = std::max<std::chrono::microseconds>(delay, st.options.tick_quantum);
  self->delayed_send(self, delay, tick_atom::value, ++st.timer_seq);
}

health_checker_actor::behavior_type checker_impl(checker_pointer self,
                                                 checker_options options) {
  auto& st = self->state;
  st.schedule = std::make_unique<check_schedule>(
      options.seed != 0 ? options.seed : random_seed());
  st.options = std::move(options);
  return {
      [self](inspect_atom) { return self->figures("health_checker"); },
      [self](watch_atom, service_instance& x) {
        auto& st = self->state;
        auto& w = st.instances[x.id];
        bool target_changed = w.target.host != x.host ||
                              w.target.port != x.port ||
                              w.target.path != x.health_endpoint;
        auto id = x.id;
        w.target = {std::move(x.host), x.port, std::move(x.health_endpoint)};
        if (w.generation != 0 && !target_changed)
          return;  // same target: keep going
        w.health = instance_health{st.options.thresholds};
        w.generation = ++st.generations;
        w.in_flight = false;
        st.schedule->add(id, st.options.time->now(), st.options.interval,
                         st.options.first_spread);
        arm(self);
      },
      [self](unwatch_atom, const std::string& id) {
        self->state.instances.erase(id);
        self->state.schedule->remove(id);
      },
      [self](tick_atom, uint64_t seq) {
        auto& st = self->state;
        // A timer replaced by an earlier one: its successor does the work.
        if (seq != st.timer_seq) return;
        st.timer_for.reset();
        auto now = st.options.time->now();
        for (auto& due : st.schedule->take_due(now)) {
          auto i = st.instances.find(due.id);
          if (i == st.instances.end() || i->second.in_flight) continue;
          auto& w = i->second;
          w.in_flight = true;
          auto late = now - due.due;
          st.lateness_us[st.lateness_count++ % st.lateness_us.size()] =
              std::chrono::duration_cast<std::chrono::microseconds>(late)
                  .count();
          if (st.options.meter)
            st.options.meter->health_check_lateness(
                std::chrono::duration<double>(late).count());
          st.options.probe->probe(
              w.target, st.options.timeout,
              [hdl = caf::actor_cast<health_checker_actor>(self), id = due.id,
               gen = w.generation](check_result r) {
                caf::anon_send(hdl, checked_atom::value, id, gen, std::move(r));
              });
        }
        arm(self);
      },
      [self](checked_atom, const std::string& id, uint64_t generation,
             check_result& r) {
        auto& st = self->state;
        auto i = st.instances.find(id);
        if (i == st.instances.end() || i->second.generation != generation)
          return;
        auto& w = i->second;
        w.in_flight = false;
        if (r.verdict == check_verdict::passing) st.passed.push_back(id);
        if (st.options.meter)
          st.options.meter->health_check(
              st.options.service, to_string(r.verdict),
              std::chrono::duration<double>(r.duration).count());
        auto changed = w.health.record(r, st.options.time->unix_ms());
        st.outbox.push_back({id, w.health.status(),
                             static_cast<int64_t>(r.duration.count()),
                             std::move(r.output)});
        // Status changes go out at once; the rest in batches, one message
        // per checker and report interval instead of one per check.
        if (changed) {
          flush(self);
        } else if (!st.flush_armed) {
          st.flush_armed = true;
          self->delayed_send(self, st.options.report_interval,
                             flush_atom::value);
        }
      },
      [self](flush_atom) {
        self->state.flush_armed = false;
        flush(self);
      },
      [self](stats_atom) {
        std::vector<instance_check_view> result;
        auto lateness = self->state.lateness_p99();
        for (auto& [id, w] : self->state.instances)
          result.push_back({self->state.options.service, id,
                            w.target.host + ":" + std::to_string(w.target.port),
                            w.health.status(), w.health.stats(),
                            w.health.p99_duration().count(), lateness});
        return result;
      },
  };
}

}  // namespace

health_checker_actor spawn_health_checker(caf::actor_system& sys,
                                          checker_options options) {
  return sys.spawn(checker_impl, std::move(options));
}

}  // namespace valmesh
