#include "actors/cluster.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <spdlog/spdlog.h>
#include <caf/detail/serialized_size.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/manager.hpp>
#include <nlohmann/json.hpp>

#include "runtime/cluster/auth.hpp"
#include "runtime/common/random.hpp"
#include "runtime/config/config.hpp"
#include "runtime/registry/service_instance.hpp"

namespace valmesh {

namespace {

/// The timers of the cluster actor (the argument of `tick_atom`).
enum timer : uint64_t {
  probe_timer = 1,     ///< one probe per probe interval
  exchange_timer = 2,  ///< push-pull and anti-entropy with one member
  seed_timer = 3,      ///< (re)try the seeds until one answers
  flush_timer = 4,     ///< send the writes gathered since the last flush
};

struct cluster_state {
  static inline const char* name = "cluster";

  cluster_options options;
  membership* view = nullptr;
  /// The gateways of the members this node is connected to, by name.
  std::map<std::string, caf::actor> gateways;
  /// Callbacks waiting for a connection in progress, by address.
  std::map<std::string, std::vector<std::function<void(caf::actor)>>>
      connecting;
  uint64_t rng = 0;
  /// Writes of this node not yet pushed.
  std::vector<catalog_entry> outbox;
  bool flush_pending = false;
  /// When the probe timer is due, to measure how late it fires.
  clock::time_point probe_due{};
  bool joined = false;
  std::chrono::milliseconds seed_backoff{250};
  /// The owner candidates last reported through `on_owners`.
  std::vector<std::string> owners;

  const std::string& self_name() const { return view->self().name; }
};

using cluster_pointer = metered_pointer<cluster_actor, cluster_state>;

std::vector<member> all_members(const membership& view) {
  std::vector<member> xs;
  xs.reserve(view.members().size());
  xs.push_back(view.self());
  for (auto& [name, m] : view.members())
    if (name != view.self().name) xs.push_back(m);
  return xs;
}

/// Ends the connection under way to `addr`: calls everyone waiting for it
/// with the gateway found, or null.
void finish_connect(cluster_pointer self, const std::string& addr,
                    caf::actor h) {
  auto& st = self->state;
  auto i = st.connecting.find(addr);
  if (i == st.connecting.end()) return;
  auto callbacks = std::move(i->second);
  st.connecting.erase(i);
  for (auto& f : callbacks) f(h);
}

/// Passes the challenge with the gateway at `addr` (both ways: it proves
/// it knows the cluster's secret, then this node does), then tells the
/// cluster actor. Run by an actor of its own that ends with the handshake,
/// so a peer that fails learns no address of this node's lasting actors.
void authenticate(cluster_pointer self, const std::string& addr,
                  caf::actor gw) {
  auto secret = self->state.options.secret;
  auto weak = caf::actor_cast<caf::weak_actor_ptr>(self);
  auto timeout = self->state.options.connect_timeout;
  self->system().spawn([=](caf::event_based_actor* tmp) {
    auto done = [weak, addr](caf::actor h) {
      if (auto strong = caf::actor_cast<caf::strong_actor_ptr>(weak))
        caf::anon_send(caf::actor_cast<cluster_actor>(strong), auth_atom::value,
                       addr, std::move(h));
    };
    auto mine = cluster_auth::new_challenge();
    tmp->request(gw, timeout, auth_atom::value, mine)
        .then(
            [=](std::string& proof, std::string& theirs) {
              if (!cluster_auth::verify(secret, cluster_auth::responder, mine,
                                        caf::to_string(gw.node()), proof)) {
                spdlog::warn(
                    "cluster: refused {}: it does not know the cluster secret",
                    addr);
                return done(nullptr);
              }
              auto answer =
                  cluster_auth::proof(secret, cluster_auth::initiator, theirs,
                                      caf::to_string(tmp->node()));
              tmp->request(gw, timeout, auth_atom::value, theirs, answer)
                  .then(
                      [=](bool ok) {
                        if (!ok)
                          spdlog::warn(
                              "cluster: {} refused this node's proof of the "
                              "cluster secret",
                              addr);
                        done(ok ? gw : nullptr);
                      },
                      [=](caf::error& err) {
                        spdlog::warn(
                            "cluster: no answer to the challenge of "
                            "{}: {}",
                            addr, to_string(err));
                        done(nullptr);
                      });
            },
            [=](caf::error& err) {
              spdlog::warn(
                  "cluster: refused {}: it did not pass the cluster "
                  "challenge ({})",
                  addr, to_string(err));
              done(nullptr);
            });
  });
}

/// Connects through this node's middleman, asked with a timeout (a
/// request, so no thread of this node waits).
void connect_now(cluster_pointer self, const std::string& addr) {
  auto ep = parse_endpoint(addr);
  auto finish = [self, addr](caf::actor h) { finish_connect(self, addr, h); };
  auto mm = self->state.options.tls
                ? self->system().openssl_manager().actor_handle()
                : self->system().middleman().actor_handle();
  self->request(mm, self->state.options.connect_timeout,
                caf::connect_atom::value, ep->host, ep->port)
      .then(
          [self, addr, finish](caf::node_id&, caf::strong_actor_ptr& ptr,
                               std::set<std::string>&) {
            auto h = caf::actor_cast<caf::actor>(ptr);
            if (!h) spdlog::warn("cluster: nothing is published at {}", addr);
            if (h && !self->state.options.secret.empty())
              return authenticate(self, addr, std::move(h));
            finish(h);
          },
          [addr, finish](caf::error& err) {
            if (err == caf::sec::incompatible_application_ids)
              spdlog::warn(
                  "cluster: refused {}: it is not a valmesh node "
                  "speaking cluster protocol {}",
                  addr, cluster_protocol);
            else
              spdlog::debug("cluster: cannot connect to {}: {}", addr,
                            to_string(err));
            finish(nullptr);
          });
}

/// Finds the gateway of the member at `addr` and calls `done` with it, or
/// with null if it could not be reached. Never blocks: the address is
/// probed first (`reachable`), then the middleman is asked with a timeout.
void connect(cluster_pointer self, const std::string& addr,
             std::function<void(caf::actor)> done) {
  auto& st = self->state;
  auto& waiting = st.connecting[addr];
  waiting.push_back(std::move(done));
  if (waiting.size() > 1) return;  // already under way
  auto finish = [self, addr](caf::actor h) { finish_connect(self, addr, h); };
  if (st.options.resolve) return finish(st.options.resolve(addr));
  auto ep = parse_endpoint(addr);
  if (!ep || ep->port == 0) {
    spdlog::warn("cluster: '{}' is not a HOST:PORT address", addr);
    return finish(nullptr);
  }
  if (!st.options.reachable) return connect_now(self, addr);
  // Ask asio first: the middleman's connect blocks.
  // A weak handle: a probe still under way at shutdown must not keep the
  // actor alive.
  st.options.reachable(
      ep->host, ep->port,
      [weak = caf::actor_cast<caf::weak_actor_ptr>(self), addr](bool ok) {
        if (auto strong = caf::actor_cast<caf::strong_actor_ptr>(weak))
          caf::anon_send(caf::actor_cast<cluster_actor>(strong),
                         reach_atom::value, addr, ok);
      });
}

/// Calls `f` with the gateway of member `name`, connecting first if need
/// be; with null if the member is unknown or unreachable.
void with_gateway(cluster_pointer self, const std::string& name,
                  std::function<void(caf::actor)> f) {
  auto& st = self->state;
  if (auto i = st.gateways.find(name); i != st.gateways.end())
    return f(i->second);
  auto* m = st.view->find(name);
  if (m == nullptr || m->cluster_addr.empty()) return f(nullptr);
  connect(self, m->cluster_addr, [self, name, f](caf::actor h) {
    auto& st = self->state;
    if (h) {
      auto [i, fresh] = st.gateways.emplace(name, h);
      if (fresh) self->monitor(h);
      f(i->second);
    } else {
      f(nullptr);
    }
  });
}

void anti_entropy(cluster_pointer self, const std::string& name);

/// Sends `news` to every member this node talks to (one-way).
void broadcast(cluster_pointer self, std::vector<member> news) {
  if (news.empty()) return;
  for (auto& name : self->state.view->peers())
    with_gateway(self, name, [self, news](caf::actor gw) {
      if (gw) caf::unsafe_send_as(self, gw, gossip_atom::value, news);
    });
}

/// Tells `on_owners` when the owner candidates changed.
void report_owners(cluster_pointer self) {
  auto& st = self->state;
  auto now = st.view->owner_candidates();
  if (now == st.owners) return;
  st.owners = now;
  if (st.options.on_owners) st.options.on_owners(std::move(now));
}

/// Publishes, spreads and acts on what changed in the local view.
void handle(cluster_pointer self, std::vector<member_event> events) {
  auto& st = self->state;
  if (events.empty()) return;
  if (st.options.meter)
    st.options.meter->cluster_members(st.view->count(member_status::alive),
                                      st.view->count(member_status::suspect),
                                      st.view->count(member_status::dead),
                                      st.view->count(member_status::left));
  std::vector<member> news;
  for (auto& e : events) {
    auto& m = e.subject;
    if (e.what == member_event::kind::refuted) {
      spdlog::info(
          "cluster: refuting a rumour about this node (now "
          "incarnation {})",
          m.incarnation);
      if (st.options.save_incarnation)
        st.options.save_incarnation(m.incarnation);
      news.push_back(m);
      continue;
    }
    spdlog::info("cluster: {} {} (incarnation {}, {})", m.name,
                 to_string(m.status), m.incarnation, m.cluster_addr);
    if (st.options.on_event)
      st.options.on_event(std::string{event_name(e.what)}, to_json(m).dump());
    news.push_back(m);
    switch (e.what) {
      case member_event::kind::joined:
        // Meet it now: a connection, and what each has that the other
        // lacks.
        anti_entropy(self, m.name);
        break;
      case member_event::kind::dead:
      case member_event::kind::left:
        if (auto i = st.gateways.find(m.name); i != st.gateways.end()) {
          self->demonitor(i->second);
          st.gateways.erase(i);
        }
        break;
      default:
        break;
    }
  }
  broadcast(self, std::move(news));
  report_owners(self);
}

void merge_all(cluster_pointer self, const std::vector<member>& rumours) {
  std::vector<member_event> events;
  for (auto& r : rumours)
    if (auto e = self->state.view->merge(r)) events.push_back(std::move(*e));
  handle(self, std::move(events));
}

/// The probe of `target` failed directly: asks a few others to probe it,
/// and suspects it if none reached it. `ack_missed`: the direct ping timed
/// out and counted against this node's local health; a helper answering
/// that it could not reach the target either (a nack) takes that back, as
/// Lifeguard does, so probing a hung member does not slow this node's own
/// failure detection.
void probe_indirectly(cluster_pointer self, const std::string& target,
                      bool ack_missed) {
  auto& st = self->state;
  auto probers = st.view->indirect_probers(target, st.rng);
  auto fail = [self, target] {
    if (auto e = self->state.view->probe_failed(target))
      handle(self, {std::move(*e)});
  };
  if (probers.empty()) return fail();
  struct round {
    size_t pending;
    bool reached = false;
    bool nacked = false;
  };
  auto r = std::make_shared<round>(round{probers.size()});
  auto timeout = st.options.membership.probe_interval;
  auto settle = [self, r, target, fail, ack_missed](bool ok, bool answered) {
    if (ok && !r->reached) {
      r->reached = true;
      self->state.view->heard_from(target);
    }
    r->nacked |= answered && !ok;
    if (--r->pending > 0 || r->reached) return;
    if (ack_missed && r->nacked) self->state.view->nack_heard();
    fail();
  };
  for (auto& name : probers)
    with_gateway(self, name, [self, target, timeout, settle](caf::actor gw) {
      if (!gw) return settle(false, false);
      self->request(gw, timeout, ping_req_atom::value, target)
          .then([settle](bool ok) { settle(ok, true); },
                [settle](caf::error&) { settle(false, false); });
    });
}

/// One probe (SWIM): a direct ping within the probe timeout, else an
/// indirect one through others.
void probe(cluster_pointer self, const std::string& target) {
  auto& st = self->state;
  auto timeout = st.view->probe_timeout();
  with_gateway(self, target, [self, target, timeout](caf::actor gw) {
    if (!gw) {
      // Refused: a verdict on the member, not a sign that this node is
      // slow, so local health stays.
      return probe_indirectly(self, target, false);
    }
    self->request(gw, timeout, ping_atom::value, self->state.self_name())
        .then(
            [self, target](uint64_t) {
              self->state.view->heard_from(target);
              self->state.view->probe_succeeded();
            },
            [self, target](caf::error& err) {
              // Only a missing answer may be this node's own fault.
              bool missed = err == caf::sec::request_timeout;
              if (missed) self->state.view->ack_missed();
              probe_indirectly(self, target, missed);
            });
  });
}

/// Anti-entropy with member `name`: compares catalog digests and sends each
/// side the entries of the buckets that differ (last writer wins sorts out
/// which copy stays). Also a push-pull of member lists.
void anti_entropy(cluster_pointer self, const std::string& name) {
  with_gateway(self, name, [self, name](caf::actor gw) {
    if (!gw) return;
    auto& st = self->state;
    auto timeout = std::chrono::seconds{5};
    self->request(gw, timeout, sync_atom::value, all_members(*st.view))
        .then([self](std::vector<member>& theirs) { merge_all(self, theirs); },
              [](caf::error&) {});
    registry_actor reg;
    if (st.options.registry) reg = st.options.registry();
    if (!reg) return;
    self->request(reg, timeout, digest_atom::value)
        .then(
            [self, gw, reg, timeout](catalog_digest& mine) {
              self->request(gw, timeout, digest_atom::value)
                  .then(
                      [self, gw, reg, timeout,
                       mine = std::move(mine)](catalog_digest& theirs) {
                        auto buckets = differing_buckets(mine, theirs);
                        auto& meter = self->state.options.meter;
                        if (buckets.empty()) {
                          if (meter) meter->anti_entropy(0);
                          return;
                        }
                        self->request(gw, timeout, entries_atom::value, buckets)
                            .then(
                                [self, reg](std::vector<catalog_entry>& xs) {
                                  if (auto& m = self->state.options.meter)
                                    m->anti_entropy(xs.size());
                                  if (!xs.empty())
                                    self->send(reg, merge_atom::value,
                                               std::move(xs));
                                },
                                [](caf::error&) {});
                        self->request(reg, timeout, entries_atom::value,
                                      buckets)
                            .then(
                                [self, gw](std::vector<catalog_entry>& xs) {
                                  if (!xs.empty())
                                    caf::unsafe_send_as(self, gw,
                                                        merge_atom::value,
                                                        std::move(xs));
                                },
                                [](caf::error&) {});
                      },
                      [](caf::error&) {});
            },
            [](caf::error&) {});
  });
}

/// Joins through the member at `addr`; `done` gets the member list, or an
/// error if it did not answer.
void join_through(
    cluster_pointer self, const std::string& addr,
    std::function<void(caf::expected<std::vector<member>>)> done) {
  connect(self, addr, [self, addr, done](caf::actor gw) {
    if (!gw)
      return done(
          make_error(errc::unavailable, "no valmesh node answered at " + addr));
    self->request(gw, std::chrono::seconds{5}, join_atom::value,
                  self->state.view->self())
        .then(
            [self, gw, done](std::vector<member>& xs) {
              auto& st = self->state;
              st.joined = true;
              if (!xs.empty()) {
                auto [i, fresh] = st.gateways.emplace(xs.front().name, gw);
                if (fresh) self->monitor(gw);
              }
              merge_all(self, xs);
              if (!xs.empty()) anti_entropy(self, xs.front().name);
              done(all_members(*st.view));
            },
            [addr, done](caf::error& err) {
              done(make_error(errc::unavailable,
                              "the node at " + addr +
                                  " refused the join: " + to_string(err)));
            });
  });
}

void try_seeds(cluster_pointer self) {
  auto& st = self->state;
  if (st.joined || st.options.seeds.empty()) return;
  struct attempt {
    size_t pending;
    bool ok = false;
  };
  auto a = std::make_shared<attempt>(attempt{st.options.seeds.size()});
  for (auto& seed : st.options.seeds)
    join_through(
        self, seed, [self, a, seed](caf::expected<std::vector<member>> r) {
          auto& st = self->state;
          if (r) {
            if (!a->ok)
              spdlog::info("cluster: joined through {} ({} members)", seed,
                           r->size());
            a->ok = true;
          }
          if (--a->pending > 0 || a->ok) return;
          spdlog::warn("cluster: no seed answered; retrying in {}ms",
                       st.seed_backoff.count());
          self->delayed_send(self, st.seed_backoff, tick_atom::value,
                             uint64_t{seed_timer});
          st.seed_backoff =
              std::min(st.seed_backoff * 2, std::chrono::milliseconds{5000});
        });
}

/// Sends one batch to every member: one message, built once and shared by
/// every send (CAF messages are reference counted), metered once.
void push_batch(cluster_pointer self, const std::vector<std::string>& peers,
                std::vector<catalog_entry> batch) {
  auto& st = self->state;
  if (st.options.meter) {
    auto bytes = wire_size(self->system(), batch);
    for (size_t i = 0; i < peers.size(); ++i)
      st.options.meter->replication(true, batch.size(), bytes);
  }
  auto msg = caf::make_message(merge_atom::value, std::move(batch));
  for (auto& name : peers)
    with_gateway(self, name, [self, msg](caf::actor gw) {
      if (gw) caf::unsafe_send_as(self, gw, msg);
    });
}

/// Pushes the outbox to every member, in batches of at most
/// `push_batch_max` entries. With `only_full`, only whole batches leave and
/// the rest waits for the timer.
void flush(cluster_pointer self, bool only_full = false) {
  auto& st = self->state;
  auto max = std::max<size_t>(1, st.options.push_batch_max);
  if (!only_full) st.flush_pending = false;
  if (st.outbox.empty() || (only_full && st.outbox.size() < max)) return;
  auto peers = st.view->peers();
  if (peers.empty()) {
    if (!only_full) st.outbox.clear();
    return;
  }
  auto& xs = st.outbox;
  size_t sent = 0;
  while (xs.size() - sent >= max || (!only_full && sent < xs.size())) {
    auto n = std::min(max, xs.size() - sent);
    auto first = xs.begin() + static_cast<ptrdiff_t>(sent);
    std::vector<catalog_entry> batch(
        std::make_move_iterator(first),
        std::make_move_iterator(first + static_cast<ptrdiff_t>(n)));
    sent += n;
    push_batch(self, peers, std::move(batch));
  }
  xs.erase(xs.begin(), xs.begin() + static_cast<ptrdiff_t>(sent));
}

}  // namespace

size_t wire_size(caf::actor_system& sys, const std::vector<catalog_entry>& xs) {
  return caf::detail::serialized_size(sys, xs);
}

nlohmann::json to_json(const member& m) {
  return {{"name", m.name},
          {"clusterAddr", m.cluster_addr},
          {"httpAddr", m.http_addr},
          {"status", to_string(m.status)},
          {"lastSeen", timestamp_or_null(m.last_seen_ms)},
          {"incarnation", m.incarnation},
          {"version", m.version}};
}

namespace {

cluster_actor::behavior_type cluster_impl(cluster_pointer self,
                                          cluster_options options) {
  auto& st = self->state;
  st.options = std::move(options);
  auto& memory = *st.options.memory;
  if (!memory.view)
    memory.view = std::make_unique<membership>(
        *st.options.time, st.options.membership, st.options.self);
  st.view = memory.view.get();
  st.rng = st.options.seed != 0 ? st.options.seed : random_seed();
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& st = self->state;
    for (auto i = st.gateways.begin(); i != st.gateways.end(); ++i) {
      if (i->second.address() != msg.source) continue;
      auto name = i->first;
      st.gateways.erase(i);
      spdlog::debug("cluster: lost the link to {}", name);
      // Probe it now: a node that is gone refuses the reconnection at once.
      if (auto* m = st.view->find(name);
          m != nullptr && m->status == member_status::alive)
        probe(self, name);
      return;
    }
  });
  report_owners(self);
  auto probe_interval = st.options.membership.probe_interval;
  st.probe_due = st.options.time->now() + probe_interval;
  self->delayed_send(self, probe_interval, tick_atom::value,
                     uint64_t{probe_timer});
  self->delayed_send(self, st.options.anti_entropy_interval, tick_atom::value,
                     uint64_t{exchange_timer});
  if (!st.options.seeds.empty())
    self->send(self, tick_atom::value, uint64_t{seed_timer});
  return {
      [self](inspect_atom) { return self->figures("cluster"); },
      [self](join_atom, member& m) -> std::vector<member> {
        auto& st = self->state;
        spdlog::info("cluster: {} asks to join from {}", m.name,
                     m.cluster_addr);
        // Merged first: a sign of life from a member not yet known would be
        // lost (a new member starts with no `last_seen`).
        merge_all(self, {m});
        st.view->heard_from(m.name);
        return all_members(*st.view);
      },
      [self](sync_atom, std::vector<member>& theirs) -> std::vector<member> {
        merge_all(self, theirs);
        // After the merge, so that a sender not known before counts too.
        if (!theirs.empty()) self->state.view->heard_from(theirs.front().name);
        return all_members(*self->state.view);
      },
      [self](ping_atom, const std::string& from) -> uint64_t {
        self->state.view->heard_from(from);
        return self->state.view->self().incarnation;
      },
      [self](ping_req_atom, const std::string& target) {
        auto rp = self->make_response_promise<bool>();
        auto timeout = self->state.view->probe_timeout();
        with_gateway(self, target, [self, rp, timeout](caf::actor gw) mutable {
          if (!gw) {
            rp.deliver(false);
            return;
          }
          self->request(gw, timeout, ping_atom::value, self->state.self_name())
              .then([rp](uint64_t) mutable { rp.deliver(true); },
                    [rp](caf::error&) mutable { rp.deliver(false); });
        });
        return rp;
      },
      [self](gossip_atom, std::vector<member>& news) { merge_all(self, news); },
      [self](tree_atom) {
        auto rp = self->make_response_promise<std::string>();
        if (!self->state.options.tree) {
          rp.deliver(std::string{"{}"});
          return rp;
        }
        self->state.options.tree(
            [rp](std::string json) mutable { rp.deliver(std::move(json)); });
        return rp;
      },
      [self](members_atom) { return all_members(*self->state.view); },
      [self](join_atom, const std::string& addr) {
        auto rp = self->make_response_promise<std::vector<member>>();
        join_through(self, addr,
                     [rp](caf::expected<std::vector<member>> r) mutable {
                       if (r)
                         rp.deliver(std::move(*r));
                       else
                         rp.deliver(std::move(r.error()));
                     });
        return rp;
      },
      [self](tree_atom, const std::string& name) {
        auto rp = self->make_response_promise<std::string>();
        auto& st = self->state;
        if (name == st.self_name()) {
          if (st.options.tree)
            st.options.tree([rp](std::string json) mutable {
              rp.deliver(std::move(json));
            });
          else
            rp.deliver(std::string{"{}"});
          return rp;
        }
        auto* m = st.view->find(name);
        if (m == nullptr) {
          rp.deliver(make_error(errc::not_found,
                                "no cluster member named '" + name + "'"));
          return rp;
        }
        if (m->status != member_status::alive &&
            m->status != member_status::suspect) {
          rp.deliver(make_error(
              errc::unavailable,
              "member '" + name + "' is " + std::string{to_string(m->status)}));
          return rp;
        }
        with_gateway(self, name, [self, rp, name](caf::actor gw) mutable {
          if (!gw) {
            rp.deliver(make_error(errc::unavailable,
                                  "member '" + name + "' is unreachable"));
            return;
          }
          self->request(gw, std::chrono::seconds{1}, tree_atom::value)
              .then(
                  [rp](std::string& json) mutable {
                    rp.deliver(std::move(json));
                  },
                  [rp, name](caf::error&) mutable {
                    rp.deliver(make_error(
                        errc::unavailable,
                        "member '" + name + "' did not answer in time"));
                  });
        });
        return rp;
      },
      [self](leave_atom) {
        auto rp = self->make_response_promise<bool>();
        auto& st = self->state;
        auto me = st.view->leave();
        if (st.options.save_incarnation)
          st.options.save_incarnation(me.incarnation);
        spdlog::info("cluster: leaving (incarnation {})", me.incarnation);
        auto peers = st.view->peers();
        if (peers.empty()) {
          rp.deliver(true);
          return rp;
        }
        auto pending = std::make_shared<size_t>(peers.size());
        auto settle = [rp, pending]() mutable {
          if (--*pending == 0) rp.deliver(true);
        };
        for (auto& name : peers)
          with_gateway(self, name, [self, me, settle](caf::actor gw) mutable {
            if (!gw) return settle();
            self->request(gw, std::chrono::milliseconds{500}, sync_atom::value,
                          std::vector<member>{me})
                .then([settle](std::vector<member>&) mutable { settle(); },
                      [settle](caf::error&) mutable { settle(); });
          });
        return rp;
      },
      [self](push_atom, std::vector<catalog_entry>& xs) {
        auto& st = self->state;
        if (st.outbox.empty())
          st.outbox = std::move(xs);
        else
          st.outbox.insert(st.outbox.end(), std::make_move_iterator(xs.begin()),
                           std::make_move_iterator(xs.end()));
        // A full batch leaves at once; the rest waits for the timer.
        flush(self, true);
        if (!st.flush_pending && !st.outbox.empty()) {
          // Whatever arrives before the timer fires rides along.
          st.flush_pending = true;
          if (st.options.push_delay.count() > 0)
            self->delayed_send(self, st.options.push_delay, tick_atom::value,
                               uint64_t{flush_timer});
          else
            self->send(self, tick_atom::value, uint64_t{flush_timer});
        }
      },
      [self](auth_atom, const std::string& addr, caf::actor& gw) {
        finish_connect(self, addr, std::move(gw));
      },
      [self](reach_atom, const std::string& addr, bool ok) {
        if (ok)
          connect_now(self, addr);
        else
          finish_connect(self, addr, nullptr);
      },
      [self](tick_atom, uint64_t which) {
        auto& st = self->state;
        switch (which) {
          case probe_timer: {
            auto now = st.options.time->now();
            auto late = std::chrono::duration_cast<std::chrono::milliseconds>(
                now - st.probe_due);
            st.view->timer_fired(std::max(late, std::chrono::milliseconds{0}));
            handle(self, st.view->tick());
            // The owner candidates depend on time too (who was heard from
            // recently enough to count towards a majority), not only on
            // member events: a survivor that saw a death while it had not
            // heard from the others lately took itself for a minority and
            // kept the dead owner, and with no further event never looked
            // again. Look on every round.
            report_owners(self);
            if (auto target = st.view->next_probe_target(st.rng))
              probe(self, *target);
            auto interval = st.options.membership.probe_interval;
            st.probe_due = now + interval;
            self->delayed_send(self, interval, tick_atom::value,
                               uint64_t{probe_timer});
            break;
          }
          case exchange_timer:
            if (auto target = st.view->push_pull_target(st.rng))
              anti_entropy(self, *target);
            if (auto lost = st.view->reconnect_target(st.rng))
              anti_entropy(self, *lost);
            self->delayed_send(self, st.options.anti_entropy_interval,
                               tick_atom::value, uint64_t{exchange_timer});
            break;
          case seed_timer:
            try_seeds(self);
            break;
          case flush_timer:
            flush(self);
            break;
          default:
            break;
        }
      },
  };
}

}  // namespace

cluster_actor spawn_cluster(caf::actor_system& sys, cluster_options options) {
  return sys.spawn(cluster_impl, std::move(options));
}

}  // namespace valmesh
