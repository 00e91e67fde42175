#include "actors/registry.hpp"

#include <unordered_map>

#include <spdlog/spdlog.h>

#include "runtime/common/random.hpp"

namespace valmesh {

namespace {

struct registry_state {
  static inline const char* name = "registry";

  registry_options options;
  std::unique_ptr<catalog> data;
  /// One balancer per service, so each keeps its own rotation.
  std::unordered_map<std::string, load_balancer> balancers;
  uint64_t seed = 0;
  bool tick_pending = false;

  load_balancer& balancer_for(const std::string& service) {
    auto i = balancers.find(service);
    if (i == balancers.end())
      i = balancers.emplace(service, load_balancer{splitmix64(seed)}).first;
    return i->second;
  }

  /// The candidates of one service, built on the first resolve after a
  /// change and reused until the next one: a resolve then costs O(1) for
  /// round-robin and random instead of a walk over every instance.
  struct candidates {
    std::vector<lb_candidate> all, healthy;
    std::vector<const service_instance*> all_x, healthy_x;
  };
  std::unordered_map<std::string, candidates> pick_cache;

  const candidates& candidates_for(
      const std::string& name,
      const std::map<std::string, service_instance>& xs) {
    auto [i, fresh] = pick_cache.try_emplace(name);
    if (!fresh) return i->second;
    auto& c = i->second;
    c.all.reserve(xs.size());
    c.all_x.reserve(xs.size());
    for (auto& [id, x] : xs) {
      c.all.push_back({id, x.weight, x.active_requests});
      c.all_x.push_back(&x);
      if (is_healthy(x.status)) {
        c.healthy.push_back({id, x.weight, x.active_requests});
        c.healthy_x.push_back(&x);
      }
    }
    return c;
  }

  /// Every change passes here: it invalidates that service's candidates
  /// (which point into the catalog) and goes out through the hook, once per
  /// message handled: the changes of a replicated batch, a round of checks
  /// or an expiry tick go out together.
  void publish_all(std::vector<catalog_change> changes) {
    if (changes.empty()) return;
    for (auto& c : changes) pick_cache.erase(c.instance.name);
    if (options.on_change) options.on_change(std::move(changes));
  }

  void publish(catalog_change c) {
    std::vector<catalog_change> one;
    one.push_back(std::move(c));
    publish_all(std::move(one));
  }

  /// Answers waiting for the store's fsync, by ticket. The `.then` of the
  /// store request delivers one; if the registry ends first (a crash), the
  /// destructor fails the rest with `unavailable`, since CAF 0.17 sends
  /// nothing for a dropped promise and the client would wait out its timeout.
  std::unordered_map<uint64_t, caf::typed_response_promise<service_instance>>
      awaiting_store;
  uint64_t tickets = 0;

  registry_state() = default;
  registry_state(const registry_state&) = delete;
  registry_state& operator=(const registry_state&) = delete;

  ~registry_state() {
    for (auto& [_, rp] : awaiting_store)
      rp.deliver(make_error(errc::unavailable,
                            "the registry restarted before the store "
                            "confirmed the change; retry the request"));
  }

  /// The store to persist to: null without one (nothing is persisted), and
  /// `nullopt` when there should be one but none is running (restarting).
  std::optional<store_actor> store() const {
    if (!options.store) return store_actor{};
    auto h = options.store();
    if (!h) return std::nullopt;
    return h;
  }
};

using registry_pointer = metered_pointer<registry_actor, registry_state>;

/// Sends `m` to the store and answers `answer` once it is durable; a store
/// that fails or does not answer in time makes the request fail with
/// `unavailable` (retryable: a registration with its id is idempotent). The
/// catalog already holds the change, so reads and the `on_change` hook see
/// it at once; only the acknowledgement waits for the fsync.
caf::result<service_instance> persist(registry_pointer self,
                                      const store_actor& store,
                                      store_mutation m,
                                      service_instance answer) {
  auto& st = self->state;
  auto rp = self->make_response_promise<service_instance>();
  auto ticket = ++st.tickets;
  st.awaiting_store.emplace(ticket, rp);
  auto what = m.instance.name + "/" + m.instance.id;
  self->request(store, st.options.store_timeout, append_atom::value,
                std::move(m))
      .then(
          [self, ticket, answer = std::move(answer)](uint64_t) mutable {
            auto& waiting = self->state.awaiting_store;
            if (auto i = waiting.find(ticket); i != waiting.end()) {
              i->second.deliver(std::move(answer));
              waiting.erase(i);
            }
          },
          [self, ticket, what](caf::error& err) {
            spdlog::warn("registry: the store did not confirm {}: {}", what,
                         to_failure(err).message);
            auto& waiting = self->state.awaiting_store;
            if (auto i = waiting.find(ticket); i != waiting.end()) {
              i->second.deliver(make_error(
                  errc::unavailable,
                  "the change of " + what +
                      " is not confirmed durable (the store is restarting "
                      "or failed); retry the request"));
              waiting.erase(i);
            }
          });
  return rp;
}

/// Sends a change nobody waits for (a status change, a lease expiry, a
/// removal of a critical instance, a write replicated from another node)
/// to the store.
void persist_quietly(registry_pointer self, store_mutation m) {
  auto store = self->state.store();
  auto what = m.instance.name + "/" + m.instance.id;
  if (!store || !*store) {
    if (!store)
      spdlog::warn("registry: no store to record the change of {}", what);
    return;
  }
  self->request(*store, self->state.options.store_timeout, append_atom::value,
                std::move(m))
      .then([](uint64_t) {},
            [what](caf::error& err) {
              spdlog::warn(
                  "registry: the store did not record the change "
                  "of {}: {}",
                  what, to_failure(err).message);
            });
}

/// Sends changes nobody waits for (writes replicated from other nodes,
/// health-check results) to the store in one message; it fsyncs them with
/// its next group, at the latest `store_options::lazy_sync` later. What a
/// crash loses of them in that window comes back: a replicated write from
/// the others at the next anti-entropy round, a check result at the next
/// check (a restarted node starts every instance it judges `unknown`).
void persist_lazily(registry_pointer self, std::vector<store_mutation> ms) {
  if (ms.empty()) return;
  auto store = self->state.store();
  if (!store) {
    spdlog::warn("registry: no store to record {} replicated changes",
                 ms.size());
    return;
  }
  if (*store) self->send(*store, append_atom::value, std::move(ms));
}

/// The tombstone record of the removal of `x`.
store_mutation burial_of(const catalog& data, const service_instance& x) {
  if (auto i = data.tombstones().find(x.name + "/" + x.id);
      i != data.tombstones().end())
    return store_mutation::bury(i->second);
  return store_mutation::bury(
      tombstone{x.name, x.id, x.node, data.index(), x.revision, 0});
}

/// The store record of a change: a `put` of the instance as it now is, or
/// the tombstone of a removal.
store_mutation record_of(const catalog& data, const catalog_change& c) {
  if (c.what == catalog_change::kind::deregistered)
    return burial_of(data, c.instance);
  return store_mutation::put(c.instance);
}

/// Forgets the tombstones past their time, in the store too. Called on
/// writes and anti-entropy rounds rather than on a timer of its own, so an
/// idle node stays idle (a tombstone kept a little longer is harmless).
void collect_tombstones(registry_pointer self) {
  for (auto& t : self->state.data->forget_old_tombstones())
    persist_quietly(self, store_mutation::forget(t.name, t.id));
}

/// Publishes what expiry changed, logs it, and records removals.
void log_changes(registry_pointer self,
                 const std::vector<catalog_change>& changes) {
  auto& st = self->state;
  st.publish_all(changes);
  for (auto& c : changes) {
    auto& x = c.instance;
    persist_quietly(self, record_of(*st.data, c));
    if (c.what == catalog_change::kind::deregistered) {
      st.balancers.erase(x.name);
      spdlog::info(
          "registry: removed {}/{} after {}s critical", x.name, x.id,
          st.options.catalog.deregister_critical_after.count() / 1000.0);
    } else if (c.what == catalog_change::kind::status_changed) {
      spdlog::info("registry: {}/{} is {} (was {})", x.name, x.id,
                   to_string(x.status), to_string(c.previous));
    }
  }
}

/// Keeps the expiry timer armed while any lease or removal is pending, and
/// idle otherwise (an idle node never wakes up for nothing).
void arm_timer(registry_pointer self) {
  auto& st = self->state;
  if (st.tick_pending || !st.data->has_deadlines()) return;
  st.tick_pending = true;
  self->delayed_send(self, st.options.tick_interval, tick_atom::value);
}

template <class T>
caf::result<T> answer(expected<T>&& x) {
  if (!x) return make_error(std::move(x).error());
  return std::move(*x);
}

/// Renews the lease of (name, id) with `status`; publishes and persists
/// what changed.
caf::result<service_instance> renew(registry_pointer self,
                                    const std::string& name,
                                    const std::string& id, health_status status,
                                    std::optional<std::string> output) {
  auto before = self->state.data->find(name, id);
  auto previous = before ? before->status : health_status::unknown;
  auto store = self->state.store();
  if (!store)
    return make_error(errc::unavailable,
                      "the store is restarting; retry the request");
  auto r = self->state.data->heartbeat(name, id, status, std::move(output));
  if (r)
    self->state.publish({r->status != previous
                             ? catalog_change::kind::status_changed
                             : catalog_change::kind::renewed,
                         *r,
                         previous,
                         {}});
  arm_timer(self);  // the renewed lease is a deadline again
  if (!r || !*store) return answer(std::move(r));
  return persist(self, *store, store_mutation::put(*r), *r);
}

registry_actor::behavior_type registry_impl(registry_pointer self,
                                            registry_options options) {
  auto& st = self->state;
  st.seed = options.seed != 0 ? options.seed : random_seed();
  st.data = std::make_unique<catalog>(*options.time, options.catalog);
  st.options = std::move(options);
  if (auto store = st.store(); !store) {
    self->quit(make_error(errc::unavailable, "no store to load from"));
  } else if (*store) {
    // The catalog first: `await` keeps every other message in the mailbox
    // until the store answered, so nothing is served from an empty catalog.
    self->request(*store, st.options.load_timeout, load_atom::value)
        .await(
            [self](store_contents& c) {
              auto& st = self->state;
              auto n = c.instances.size();
              for (auto& x : c.instances) st.data->restore(std::move(x));
              for (auto& t : c.tombstones) st.data->restore(std::move(t));
              st.data->restore_index(c.index);
              spdlog::info("registry: loaded {} instances from the store", n);
              arm_timer(self);
            },
            [self](caf::error& err) {
              spdlog::error("registry: cannot load the catalog: {}",
                            to_failure(err).message);
              self->quit(err);
            });
  }
  return {
      [self](inspect_atom) { return self->figures("registry"); },
      [self](register_atom,
             service_instance& x) -> caf::result<service_instance> {
        auto valid = validate_instance(std::move(x));
        if (!valid) return make_error(std::move(valid).error());
        auto store = self->state.store();
        if (!store)
          return make_error(errc::unavailable,
                            "the store is restarting; retry the request");
        auto stored = self->state.data->upsert(std::move(*valid));
        if (stored) {
          spdlog::debug("registry: registered {}/{} at {}:{}", stored->name,
                        stored->id, stored->host, stored->port);
          auto fresh = stored->create_index == stored->modify_index;
          self->state.publish({fresh ? catalog_change::kind::registered
                                     : catalog_change::kind::updated,
                               *stored,
                               stored->status,
                               {}});
        }
        arm_timer(self);
        if (!stored || !*store) return answer(std::move(stored));
        return persist(self, *store, store_mutation::put(*stored), *stored);
      },
      [self](deregister_atom, const std::string& name,
             const std::string& id) -> caf::result<service_instance> {
        auto store = self->state.store();
        if (!store)
          return make_error(errc::unavailable,
                            "the store is restarting; retry the request");
        collect_tombstones(self);
        auto removed = self->state.data->remove(name, id);
        if (removed) {
          if (self->state.data->instances(name) == nullptr)
            self->state.balancers.erase(name);
          self->state.publish({catalog_change::kind::deregistered, *removed,
                               removed->status, "deregistered"});
        }
        if (!removed || !*store) return answer(std::move(removed));
        return persist(self, *store, burial_of(*self->state.data, *removed),
                       *removed);
      },
      [self](heartbeat_atom, const std::string& name,
             const std::string& id) -> caf::result<service_instance> {
        return renew(self, name, id, health_status::passing, std::nullopt);
      },
      [self](heartbeat_atom, const std::string& name, const std::string& id,
             health_status status,
             std::string& output) -> caf::result<service_instance> {
        return renew(self, name, id, status, std::move(output));
      },
      [self](status_atom, const std::string& name, const std::string& id,
             health_status status) -> caf::result<service_instance> {
        auto before = self->state.data->find(name, id);
        auto previous = before ? before->status : health_status::unknown;
        auto r = self->state.data->set_status(name, id, status);
        if (r && r->status != previous) {
          self->state.publish(
              {catalog_change::kind::status_changed, *r, previous, {}});
          persist_quietly(self, store_mutation::put(*r));
        }
        arm_timer(self);
        return answer(std::move(r));
      },
      [self](check_atom, const std::string& name,
             std::vector<check_report>& reports) {
        bool changed = false;
        std::vector<store_mutation> records;
        std::vector<catalog_change> changes;
        for (auto& rep : reports) {
          auto r = self->state.data->record_check(
              name, rep.id, rep.status, rep.duration_us, std::move(rep.output));
          if (!r || !*r) continue;
          auto& c = **r;
          spdlog::info("registry: {}/{} is {} (was {}): {}", name, rep.id,
                       to_string(c.instance.status), to_string(c.previous),
                       c.instance.last_check_output);
          records.push_back(store_mutation::put(c.instance));
          changes.push_back(std::move(c));
          changed = true;
        }
        self->state.publish_all(std::move(changes));
        persist_lazily(self, std::move(records));
        if (changed) arm_timer(self);
      },
      [self](merge_atom, std::vector<catalog_entry>& entries) {
        auto& st = self->state;
        std::vector<store_mutation> records;
        std::vector<catalog_change> changes;
        for (auto& e : entries) {
          auto c = st.data->merge(e);
          if (!c) continue;
          if (c->what == catalog_change::kind::deregistered &&
              st.data->instances(c->instance.name) == nullptr)
            st.balancers.erase(c->instance.name);
          records.push_back(record_of(*st.data, *c));
          changes.push_back(std::move(*c));
        }
        st.publish_all(std::move(changes));
        persist_lazily(self, std::move(records));
        arm_timer(self);
      },
      [self](rejudge_atom) {
        self->state.data->rejudge();
        arm_timer(self);
      },
      [self](digest_atom) {
        collect_tombstones(self);
        return self->state.data->digest();
      },
      [self](entries_atom, const std::vector<uint32_t>& buckets) {
        return self->state.data->entries_in(buckets);
      },
      [self](snapshot_atom) { return self->state.data->all(); },
      [self](list_atom) -> std::vector<service_summary> {
        return self->state.data->summaries();
      },
      [self](get_atom, const std::string& name)
          -> caf::result<std::vector<service_instance>> {
        auto* xs = self->state.data->instances(name);
        if (xs == nullptr)
          return make_error(errc::not_found, "no service named '" + name + "'");
        std::vector<service_instance> result;
        result.reserve(xs->size());
        for (auto& [_, x] : *xs) result.push_back(x);
        return result;
      },
      [self](resolve_atom, const std::string& name,
             resolve_options opts) -> caf::result<service_instance> {
        auto* xs = self->state.data->instances(name);
        if (xs == nullptr)
          return make_error(errc::not_found, "no service named '" + name + "'");
        auto& c = self->state.candidates_for(name, *xs);
        auto& from = opts.healthy_only ? c.healthy : c.all;
        auto& from_x = opts.healthy_only ? c.healthy_x : c.all_x;
        auto pick = self->state.balancer_for(name).pick(opts.strategy, from);
        if (!pick)
          return make_error(errc::no_healthy_instance,
                            "service '" + name + "' has no " +
                                (opts.healthy_only ? "healthy " : "") +
                                "instance to route to");
        return *from_x[*pick];
      },
      [self](tick_atom) {
        auto& st = self->state;
        st.tick_pending = false;
        log_changes(self, st.data->expire());
        collect_tombstones(self);
        arm_timer(self);
      },
  };
}

}  // namespace

registry_actor spawn_registry(caf::actor_system& sys,
                              registry_options options) {
  return sys.spawn(registry_impl, std::move(options));
}

}  // namespace valmesh
