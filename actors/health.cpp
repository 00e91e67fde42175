#include "actors/health.hpp"

#include "actors/dynamic_supervision.hpp"
#include "actors/gather.hpp"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

namespace valmesh {

namespace {

using json = nlohmann::json;

// -- health_supervisor --------------------------------------------------------

struct checker_child {
  health_checker_actor handle;
  std::set<std::string> ids;
};

struct health_supervisor_state {
  static inline const char* name = "health_supervisor";
  health_options options;
  std::map<std::string, checker_child> checkers;
  health_aggregator_actor aggregator;
  std::unique_ptr<dynamic_supervision> supervision;
};

using hsup_pointer =
    metered_pointer<health_supervisor_actor, health_supervisor_state>;

checker_options checker_options_for(const health_options& o,
                                    const std::string& service) {
  checker_options c;
  c.service = service;
  c.interval = o.health.interval;
  c.timeout = o.health.timeout;
  c.thresholds = {o.health.failures_before_critical,
                  o.health.success_before_passing};
  if (auto i = o.health.services.find(service); i != o.health.services.end()) {
    if (i->second.interval) c.interval = *i->second.interval;
    if (i->second.timeout) c.timeout = *i->second.timeout;
  }
  c.first_spread = std::min(c.interval, std::chrono::milliseconds{1000});
  c.time = o.time;
  c.probe = o.probe;
  c.registry = o.registry;
  c.on_passed = o.on_passed;
  c.meter = o.meter;
  return c;
}

checker_child& checker_for(hsup_pointer self, const std::string& service) {
  auto& st = self->state;
  auto i = st.checkers.find(service);
  if (i != st.checkers.end()) return i->second;
  auto& c = st.checkers[service];
  c.handle = spawn_health_checker(self->system(),
                                  checker_options_for(st.options, service));
  self->monitor(c.handle);
  return c;
}

void unwatch(hsup_pointer self, const service_instance& x);

void watch(hsup_pointer self, const service_instance& x) {
  // No health endpoint: nothing to check actively (a TTL lease or the
  // client sets the status).
  if (x.health_endpoint.empty() ||
      (self->state.options.judges && !self->state.options.judges(x))) {
    unwatch(self, x);  // not checked here (now)
    return;
  }
  auto& c = checker_for(self, x.name);
  c.ids.insert(x.id);
  self->send(c.handle, watch_atom::value, x);
}

void unwatch(hsup_pointer self, const service_instance& x) {
  auto& st = self->state;
  auto i = st.checkers.find(x.name);
  if (i == st.checkers.end()) return;
  i->second.ids.erase(x.id);
  if (i->second.ids.empty()) {
    self->demonitor(i->second.handle.address());
    self->send_exit(i->second.handle, caf::exit_reason::user_shutdown);
    st.checkers.erase(i);
  } else {
    self->send(i->second.handle, unwatch_atom::value, x.id);
  }
}

void start_aggregator(hsup_pointer self) {
  auto& st = self->state;
  st.aggregator = spawn_health_aggregator(self->system(), st.options);
  self->monitor(st.aggregator);
  if (st.options.on_aggregator) st.options.on_aggregator(st.aggregator);
}

/// Stops every child: the checkers, then the aggregator (started first).
void stop_all(hsup_pointer self, const caf::error& reason) {
  auto& st = self->state;
  for (auto& [_, c] : st.checkers) {
    self->demonitor(c.handle.address());
    self->send_exit(c.handle, reason);
  }
  st.checkers.clear();
  if (st.aggregator) {
    self->demonitor(st.aggregator.address());
    self->send_exit(st.aggregator, reason);
    st.aggregator = nullptr;
  }
}

/// Records a child's failure and counts a restart; past the intensity,
/// stops everything and exits with the child's reason (escalation).
bool may_restart(hsup_pointer self, const std::string& child,
                 const caf::down_msg& msg) {
  auto& st = self->state;
  return restart_or_escalate(
      self, *st.supervision, "health_supervisor", child, msg, *st.options.time,
      [self](const caf::error& why) { stop_all(self, why); });
}

health_supervisor_actor::behavior_type health_supervisor_impl(
    hsup_pointer self, health_options options) {
  self->state.supervision =
      std::make_unique<dynamic_supervision>(options.intensity, options.period);
  self->state.options = std::move(options);
  start_aggregator(self);
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    if (st.aggregator && st.aggregator.address() == msg.source) {
      st.aggregator = nullptr;
      if (may_restart(self, "health_aggregator", msg)) start_aggregator(self);
      return;
    }
    for (auto& [service, c] : st.checkers) {
      if (c.handle.address() != msg.source) continue;
      auto name = service;
      st.checkers.erase(name);
      if (!may_restart(self, "health_checker/" + name, msg)) return;
      // Rebuild from the registry: it knows every instance of the service.
      if (auto reg = st.options.registry()) {
        self->request(reg, std::chrono::seconds{5}, get_atom::value, name)
            .then(
                [self](std::vector<service_instance>& xs) {
                  for (auto& x : xs) watch(self, x);
                },
                [](caf::error&) {});
      }
      return;
    }
  });
  self->send(self, resync_atom::value);
  // Stopping the supervisor stops its children first.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    stop_all(self, msg.reason);
    self->quit(msg.reason);
  });
  return {
      [self](inspect_atom) {
        auto& st = self->state;
        auto f = dynamic_supervisor_figures(self, *st.supervision);
        f.children.push_back(dynamic_child(
            *st.supervision, "health_aggregator", "health_aggregator",
            caf::actor_cast<caf::actor>(st.aggregator)));
        for (auto& [service, c] : st.checkers)
          f.children.push_back(dynamic_child(
              *st.supervision, "health_checker/" + service, "health_checker",
              caf::actor_cast<caf::actor>(c.handle)));
        return f;
      },
      [self](changed_atom, const std::vector<catalog_change>& changes) {
        for (auto& c : changes) switch (c.what) {
            case catalog_change::kind::registered:
            case catalog_change::kind::updated:
              watch(self, c.instance);
              break;
            case catalog_change::kind::deregistered:
              unwatch(self, c.instance);
              break;
            case catalog_change::kind::status_changed:
            case catalog_change::kind::renewed:
              break;
          }
      },
      [self](resync_atom) {
        for_each_registered(
            self, self->state.options.registry(),
            [self](const service_instance& x) { watch(self, x); });
      },
      [self](stats_atom) -> caf::result<std::vector<instance_check_view>> {
        std::vector<health_checker_actor> targets;
        for (auto& [_, c] : self->state.checkers) targets.push_back(c.handle);
        return gather_stats<instance_check_view,
                            std::vector<instance_check_view>>(
            self, targets,
            [](std::vector<instance_check_view>& acc,
               std::vector<instance_check_view>& xs) {
              for (auto& x : xs) acc.push_back(std::move(x));
            });
      },
  };
}

// -- health_aggregator --------------------------------------------------------

struct aggregator_state {
  static inline const char* name = "health_aggregator";
  health_options options;
  std::unique_ptr<health_rollup> rollup;
  std::map<std::string, service_health> last_services;
  service_health last_overall = service_health::healthy;
  int64_t checked_at_ms = 0;
};

using aggregator_pointer =
    metered_pointer<health_aggregator_actor, aggregator_state>;

void publish(aggregator_pointer self, const char* type, const json& data) {
  if (auto ev = self->state.options.events())
    self->send(ev, publish_atom::value, std::string{type},
               data.dump(-1, ' ', false, json::error_handler_t::replace));
}

/// Publishes `service_health_changed` if `name`'s roll-up differs from what
/// was last published (and records it); forgets a service that is gone.
/// `quiet` only records (the first computation after a start).
void note_service(aggregator_pointer self, const std::string& name,
                  bool quiet) {
  auto& st = self->state;
  if (!st.rollup->has(name)) {
    st.last_services.erase(name);
    return;
  }
  auto now = st.rollup->service(name);
  auto i = st.last_services.find(name);
  bool known = i != st.last_services.end();
  if (known && i->second == now) return;
  if (!quiet)
    publish(self, "service_health_changed",
            {{"service", name},
             {"from", known ? json(to_string(i->second)) : json(nullptr)},
             {"to", to_string(now)}});
  st.last_services[name] = now;
}

/// The same for the overall health.
void note_overall(aggregator_pointer self, bool quiet) {
  auto& st = self->state;
  auto overall = st.rollup->overall();
  if (overall == st.last_overall) return;
  if (!quiet)
    publish(self, "overall_changed",
            {{"from", to_string(st.last_overall)}, {"to", to_string(overall)}});
  st.last_overall = overall;
}

/// Compares the whole roll-up with what was last published (after a resync).
void recompute(aggregator_pointer self, bool quiet) {
  auto& st = self->state;
  st.checked_at_ms = st.options.time->unix_ms();
  std::vector<std::string> known;
  for (auto& [name, _] : st.last_services) known.push_back(name);
  for (auto& name : known) note_service(self, name, quiet);  // drops the gone
  for (auto& [name, _] : st.rollup->services()) note_service(self, name, quiet);
  note_overall(self, quiet);
}

health_aggregator_actor::behavior_type health_aggregator_impl(
    aggregator_pointer self, health_options options) {
  std::set<std::string> critical;
  for (auto& [name, o] : options.health.services)
    if (o.critical) critical.insert(name);
  self->state.rollup = std::make_unique<health_rollup>(std::move(critical));
  self->state.options = std::move(options);
  auto resync = [self](bool quiet) {
    auto reg = self->state.options.registry();
    if (!reg) return;
    self->request(reg, std::chrono::seconds{5}, snapshot_atom::value)
        .then(
            [self, quiet](std::vector<service_instance>& xs) {
              self->state.rollup->clear();
              for (auto& x : xs)
                self->state.rollup->set(x.name, x.id, x.status);
              recompute(self, quiet);
            },
            [](caf::error&) {});
  };
  resync(true);
  self->delayed_send(self, self->state.options.health.interval,
                     resync_atom::value);
  return {
      [self](inspect_atom) { return self->figures("health_aggregator"); },
      [self](changed_atom, const std::vector<catalog_change>& changes) {
        // Only the changed services and the overall can move: O(log n) each.
        auto& st = self->state;
        for (auto& c : changes) {
          auto& x = c.instance;
          if (c.what == catalog_change::kind::deregistered)
            st.rollup->remove(x.name, x.id);
          else
            st.rollup->set(x.name, x.id, x.status);
          note_service(self, x.name, false);
        }
        st.checked_at_ms = st.options.time->unix_ms();
        note_overall(self, false);
      },
      [self](get_atom) {
        auto& st = self->state;
        health_view v;
        v.overall = st.rollup->overall();
        for (auto& [name, h] : st.rollup->services())
          v.services.push_back(
              {name, h, st.rollup->is_critical(name), st.rollup->counts(name)});
        v.checked_at_ms = st.checked_at_ms;
        return v;
      },
      [self, resync](resync_atom) {
        resync(false);
        self->delayed_send(self, self->state.options.health.interval,
                           resync_atom::value);
      },
  };
}

}  // namespace

health_supervisor_actor spawn_health_supervisor(caf::actor_system& sys,
                                                health_options options) {
  return sys.spawn(health_supervisor_impl, std::move(options));
}

health_aggregator_actor spawn_health_aggregator(caf::actor_system& sys,
                                                health_options options) {
  return sys.spawn(health_aggregator_impl, std::move(options));
}

}  // namespace valmesh
