#include "actors/mesh_supervisor.hpp"

#include "actors/dynamic_supervision.hpp"
#include "actors/gather.hpp"

#include <map>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

namespace valmesh {

namespace {

struct breaker_child {
  breaker_actor handle;
  uint64_t generation = 0;  ///< its first generation
  service_instance instance;
};

struct service_unit {
  bulkhead_actor bulkhead;
  /// The bulkhead's gate. Its members are written here, before the gate is
  /// published, so a call that finds the service finds its instances.
  std::shared_ptr<bulkhead_gate> gate;
  std::map<std::string, breaker_child> breakers;
};

struct mesh_supervisor_state {
  static inline const char* name = "mesh_supervisor";
  mesh_options options;
  std::map<std::string, service_unit> services;
  uint64_t epoch = 0;
  /// Until the first snapshot is in, `flush` callers wait here: the
  /// services registered before this supervisor ran come from it.
  bool resynced = false;
  std::vector<std::function<void()>> waiting_flush;
  std::unique_ptr<dynamic_supervision> supervision;
};

using msup_pointer =
    metered_pointer<mesh_supervisor_actor, mesh_supervisor_state>;

void spawn_bulkhead_of(msup_pointer self, const std::string& service,
                       service_unit& u) {
  auto& st = self->state;
  bulkhead_actor_options o;
  o.service = service;
  o.policy = st.options.policies.of(service);
  o.time = st.options.time;
  o.gate = make_bulkhead_gate(o.policy);
  u.gate = o.gate;
  for (auto& [_, b] : u.breakers)
    u.gate->upsert(b.instance, b.handle, b.generation);
  u.bulkhead = spawn_bulkhead(self->system(), std::move(o));
  self->monitor(u.bulkhead);
  st.options.bulkheads->set(service, {u.bulkhead, u.gate});
}

void spawn_breaker_of(msup_pointer self, service_unit& u, breaker_child& b) {
  auto& st = self->state;
  breaker_actor_options o;
  o.service = b.instance.name;
  o.id = b.instance.id;
  o.breaker = st.options.policies.of(b.instance.name).breaker;
  // Each incarnation starts above every generation of the ones before.
  b.generation = ++st.epoch << 32;
  o.generation = b.generation;
  o.time = st.options.time;
  auto* dir = st.options.bulkheads;
  auto events = st.options.events;
  auto meter = st.options.meter;
  o.on_transition = [dir, events, meter](const breaker_update& u,
                                         breaker_state from) {
    if (meter) meter->breaker_transition(u.service, to_string(u.state));
    if (auto bh = dir->find(u.service))
      caf::anon_send(bh.actor, breaker_atom::value, u);
    if (auto ev = events ? events() : events_actor{}) {
      nlohmann::json data = {{"service", u.service},
                             {"id", u.id},
                             {"from", to_string(from)},
                             {"to", to_string(u.state)}};
      caf::anon_send(ev, publish_atom::value, std::string{"breaker_changed"},
                     data.dump());
    }
    spdlog::info("breaker/{}: {} -> {}", u.id, to_string(from),
                 to_string(u.state));
  };
  b.handle = spawn_breaker(self->system(), std::move(o));
  self->monitor(b.handle);
  if (u.gate) u.gate->upsert(b.instance, b.handle, b.generation);
}

/// Adds or updates an instance. A new service's first breaker is in its
/// gate before the gate is published.
void watch(msup_pointer self, const service_instance& x) {
  auto& st = self->state;
  auto& u = st.services[x.name];
  auto i = u.breakers.find(x.id);
  if (i == u.breakers.end()) {
    auto& b = u.breakers[x.id];
    b.instance = x;
    spawn_breaker_of(self, u, b);
    if (!u.bulkhead) spawn_bulkhead_of(self, x.name, u);
    return;
  }
  i->second.instance = x;  // address, weight or status changed
  u.gate->upsert(x, i->second.handle, i->second.generation);
}

/// Stops a child without taking its end for a crash.
template <class Handle>
void stop_child(msup_pointer self, const Handle& h,
                caf::error why = caf::exit_reason::user_shutdown) {
  self->demonitor(h.address());
  self->send_exit(h, why);
}

void unwatch(msup_pointer self, const service_instance& x) {
  auto& st = self->state;
  auto s = st.services.find(x.name);
  if (s == st.services.end()) return;
  auto& u = s->second;
  if (auto i = u.breakers.find(x.id); i != u.breakers.end()) {
    stop_child(self, i->second.handle);
    u.breakers.erase(i);
  }
  if (!u.breakers.empty()) {
    u.gate->remove(x.id);
    return;
  }
  st.options.bulkheads->erase(x.name);
  stop_child(self, u.bulkhead);
  st.services.erase(s);
}

/// Stops every child (youngest kind first: breakers, then bulkheads).
void stop_all(msup_pointer self, const caf::error& reason) {
  auto& st = self->state;
  for (auto& [service, u] : st.services) {
    st.options.bulkheads->erase(service);
    for (auto& [_, b] : u.breakers) stop_child(self, b.handle, reason);
    stop_child(self, u.bulkhead, reason);
  }
  st.services.clear();
}

/// Counts a restart; past the intensity, stops everything and exits with
/// the child's reason, so that node_supervisor restarts this supervisor
/// (which rebuilds from the registry).
bool may_restart(msup_pointer self, const std::string& child,
                 const caf::down_msg& msg) {
  auto& st = self->state;
  return restart_or_escalate(
      self, *st.supervision, "mesh_supervisor", child, msg, *st.options.time,
      [self](const caf::error& why) { stop_all(self, why); });
}

void on_down(msup_pointer self, const caf::down_msg& msg) {
  for (auto& [service, u] : self->state.services) {
    if (u.bulkhead.address() == msg.source) {
      if (may_restart(self, "bulkhead/" + service, msg))
        spawn_bulkhead_of(self, service, u);
      return;
    }
    for (auto& [id, b] : u.breakers) {
      if (b.handle.address() != msg.source) continue;
      if (may_restart(self, "breaker/" + id, msg)) spawn_breaker_of(self, u, b);
      return;
    }
  }
}

mesh_supervisor_actor::behavior_type mesh_supervisor_impl(
    msup_pointer self, mesh_options options) {
  self->state.supervision =
      std::make_unique<dynamic_supervision>(options.intensity, options.period);
  self->state.options = std::move(options);
  self->set_down_handler([self](caf::down_msg& msg) { on_down(self, msg); });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    stop_all(self, msg.reason);
    self->quit(msg.reason);
  });
  self->send(self, resync_atom::value);
  return {
      [self](inspect_atom) {
        auto& st = self->state;
        auto f = dynamic_supervisor_figures(self, *st.supervision);
        for (auto& [service, u] : st.services) {
          f.children.push_back(
              dynamic_child(*st.supervision, "bulkhead/" + service, "bulkhead",
                            caf::actor_cast<caf::actor>(u.bulkhead)));
          for (auto& [id, b] : u.breakers)
            f.children.push_back(
                dynamic_child(*st.supervision, "breaker/" + id, "breaker",
                              caf::actor_cast<caf::actor>(b.handle)));
        }
        return f;
      },
      [self](changed_atom, const std::vector<catalog_change>& changes) {
        for (auto& c : changes) switch (c.what) {
            case catalog_change::kind::registered:
            case catalog_change::kind::updated:
            case catalog_change::kind::status_changed:
              watch(self, c.instance);
              break;
            case catalog_change::kind::deregistered:
              unwatch(self, c.instance);
              break;
            case catalog_change::kind::renewed:
              break;
          }
      },
      [self](resync_atom) {
        for_each_registered(
            self, self->state.options.registry(),
            [self](const service_instance& x) { watch(self, x); },
            [self] {
              auto& st = self->state;
              st.resynced = true;
              for (auto& f : st.waiting_flush) f();
              st.waiting_flush.clear();
            });
      },
      [self](checked_atom, const std::string& service,
             const std::vector<std::string>& ids) {
        // Only open breakers care; the gate's mirror knows which are.
        auto& st = self->state;
        auto s = st.services.find(service);
        auto entry = st.options.bulkheads->find(service);
        if (s == st.services.end() || !entry) return;
        for (auto& id : entry.gate->open_among(ids))
          if (auto b = s->second.breakers.find(id);
              b != s->second.breakers.end())
            self->send(b->second.handle, checked_atom::value);
      },
      [self](flush_atom, std::function<void()>& done) {
        if (!self->state.resynced)
          return self->state.waiting_flush.push_back(std::move(done));
        done();
      },
      [self](stats_atom) -> caf::result<std::vector<bulkhead_view>> {
        std::vector<bulkhead_actor> targets;
        for (auto& [_, u] : self->state.services) targets.push_back(u.bulkhead);
        return gather_stats<bulkhead_view, bulkhead_view>(
            self, targets,
            [](std::vector<bulkhead_view>& acc, bulkhead_view& v) {
              acc.push_back(std::move(v));
            });
      },
  };
}

}  // namespace

mesh_supervisor_actor spawn_mesh_supervisor(caf::actor_system& sys,
                                            mesh_options options) {
  return sys.spawn(mesh_supervisor_impl, std::move(options));
}

}  // namespace valmesh
