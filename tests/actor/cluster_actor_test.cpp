// Deterministic tests of the cluster actor with CAF's test DSL. Fake peers
// stand in for the gateways of other nodes (the actor finds them through
// `cluster_options::resolve`), the test coordinator owns the clock, and the
// membership reads that same clock (`coordinator_clock`), so probe timers,
// request timeouts and suspicion timeouts share one simulated time line that
// the tests move by hand, one due timer at a time.

#define CAF_SUITE cluster_actor

#include "caf/test/dsl.hpp"
#include "caf/test/unit_test_impl.hpp"

#include "caf/binary_serializer.hpp"
#include "caf/detail/simple_actor_clock.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "tests/support/caf_fixture.hpp"

#include "actors/cluster.hpp"
#include "actors/protocol.hpp"
#include "runtime/cluster/membership.hpp"

using namespace valmesh;
using namespace std::chrono_literals;

namespace {

using valmesh::test::coordinator_clock;
using valmesh::test::test_config;
using time_point = caf::actor_clock::time_point;

/// A fake peer's own timer: answer the held ping with this index now.
using answer_late_atom = caf::atom_constant<caf::atom("late")>;

/// How the other nodes behave, as the tests set it. The test coordinator
/// runs every actor on the test's thread, so plain shared state needs no
/// lock, and a test can change it between two steps.
struct world {
  /// Hung nodes: they take every request and never answer.
  std::set<std::string> hung;
  /// Slow nodes: they answer direct pings only after this delay.
  std::map<std::string, caf::timespan> late;
  /// Each node's incarnation, as its pings and member records tell it.
  std::map<std::string, uint64_t> incarnation;
};

/// What one fake peer received.
struct peer_log {
  std::vector<std::string> pings;      ///< who pinged it
  std::vector<std::string> ping_reqs;  ///< whom it was asked to probe
  std::vector<std::vector<member>> gossips;
  std::vector<std::vector<member>> syncs;
  size_t merges = 0;
  /// The ids of each push it received, in order.
  std::vector<std::vector<std::string>> pushes;
};

struct fake_peer_state {
  /// Requests taken and not answered: a hung node's for good (in CAF 0.17 a
  /// promise never delivered sends nothing, so the requester's timeout is
  /// what ends the wait), a slow node's until its `answer_late_atom`.
  std::vector<caf::response_promise> held;
};

using fake_peer_pointer = caf::stateful_actor<fake_peer_state>*;

member record(const std::string& name, member_status status,
              uint64_t incarnation) {
  member m;
  m.name = name;
  m.cluster_addr = name + ".test:7946";
  m.http_addr = name + ".test:8080";
  m.version = "test";
  m.incarnation = incarnation;
  m.status = status;
  return m;
}

/// Another node's gateway, as far as the cluster actor of this node can
/// tell: it answers probes, indirect probes, push-pulls and joins, and takes
/// gossip and catalog writes, unless `world` says it is hung or slow.
caf::behavior fake_peer(fake_peer_pointer self, std::string name,
                        std::shared_ptr<world> w,
                        std::shared_ptr<peer_log> log) {
  auto hung = [w, name] { return w->hung.count(name) > 0; };
  auto own_record = [w, name] {
    return record(name, member_status::alive, w->incarnation[name]);
  };
  return {
      [=](ping_atom, const std::string& from) {
        log->pings.push_back(from);
        auto rp = self->make_response_promise();
        if (hung()) {
          self->state.held.push_back(rp);
        } else if (auto i = w->late.find(name); i != w->late.end()) {
          self->state.held.push_back(rp);
          self->delayed_send(self, i->second, answer_late_atom::value,
                             uint64_t{self->state.held.size() - 1});
        } else {
          rp.deliver(w->incarnation[name]);
        }
        return rp;
      },
      [=](answer_late_atom, uint64_t i) {
        self->state.held.at(i).deliver(w->incarnation[name]);
      },
      [=](ping_req_atom, const std::string& target) {
        log->ping_reqs.push_back(target);
        auto rp = self->make_response_promise();
        if (hung())
          self->state.held.push_back(rp);
        else  // what a real peer would find: a hung target never answers
          rp.deliver(w->hung.count(target) == 0);
        return rp;
      },
      [=](sync_atom, std::vector<member>& xs) {
        log->syncs.push_back(std::move(xs));
        auto rp = self->make_response_promise();
        if (hung())
          self->state.held.push_back(rp);
        else
          rp.deliver(std::vector<member>{own_record()});
        return rp;
      },
      [=](join_atom, member&) {
        auto rp = self->make_response_promise();
        if (hung())
          self->state.held.push_back(rp);
        else
          rp.deliver(std::vector<member>{own_record()});
        return rp;
      },
      [=](gossip_atom, std::vector<member>& xs) {
        log->gossips.push_back(std::move(xs));
      },
      [=](merge_atom, const std::vector<catalog_entry>& xs) {
        ++log->merges;
        std::vector<std::string> ids;
        for (auto& e : xs) ids.push_back(e.instance.id);
        log->pushes.push_back(std::move(ids));
      },
  };
}

/// A span of simulated time in whole milliseconds, for checks and messages.
int64_t ms(caf::timespan x) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(x).count();
}

/// The suspicion timeout as `membership.hpp` documents it, worked out here
/// on its own so that a change of the formula in the code shows up:
/// suspicion_mult x probe_interval x max(1, log10 n) x (local_health + 1),
/// n the alive and suspect members.
std::chrono::milliseconds documented_suspicion_timeout(const membership& v) {
  auto& o = v.options();
  auto n = v.count(member_status::alive) + v.count(member_status::suspect);
  auto scale = std::max(1.0, std::log10(static_cast<double>(n)));
  auto ms = static_cast<double>(o.suspicion_mult) *
            static_cast<double>(o.probe_interval.count()) * scale *
            static_cast<double>(v.local_health() + 1);
  return std::chrono::milliseconds{static_cast<int64_t>(ms)};
}

struct fixture : test_coordinator_fixture<test_config> {
  std::shared_ptr<coordinator_clock> clk =
      std::make_shared<coordinator_clock>(sched);
  std::shared_ptr<world> w = std::make_shared<world>();
  std::map<std::string, std::shared_ptr<peer_log>> logs;
  /// The fake gateways by cluster address (what `resolve` looks up).
  std::map<std::string, caf::actor> gateways;
  std::shared_ptr<cluster_memory> memory = std::make_shared<cluster_memory>();
  std::vector<std::pair<std::string, nlohmann::json>> events;
  std::vector<std::vector<std::string>> owner_reports;
  std::vector<uint64_t> saved_incarnations;
  cluster_actor cluster;

  static constexpr auto probe_interval = 500ms;
  static constexpr auto push_delay = 2ms;
  /// The push delay the cluster actor is spawned with.
  std::chrono::milliseconds push_delay_used = push_delay;
  static constexpr size_t push_batch_max = 4;

  fixture() {
    // The actor logs every member change at info; the checks say it better.
    spdlog::set_level(spdlog::level::warn);
    for (std::string name : {"b", "c"}) {
      w->incarnation[name] = 1;
      auto log = std::make_shared<peer_log>();
      logs[name] = log;
      gateways[name + ".test:7946"] = sys.spawn(fake_peer, name, w, log);
    }
    sched.run();
    start();
  }

  ~fixture() override {
    // The cluster actor re-arms its timers forever: it has to go before
    // the base fixture runs the remaining timeouts out.
    caf::anon_send_exit(cluster, caf::exit_reason::user_shutdown);
    for (auto& [addr, gw] : gateways)
      caf::anon_send_exit(gw, caf::exit_reason::user_shutdown);
    sched.run();
    spdlog::set_level(spdlog::level::info);
  }

  cluster_options options() {
    cluster_options o;
    o.time = clk;
    o.membership.probe_interval = probe_interval;
    o.membership.probe_timeout = 200ms;
    o.membership.indirect_checks = 2;
    o.membership.suspicion_mult = 2;
    o.self = record("a", member_status::alive, 1);
    o.seed = 7;
    o.push_delay = push_delay_used;
    o.push_batch_max = push_batch_max;
    o.memory = memory;
    o.resolve = [this](const std::string& addr) {
      auto i = gateways.find(addr);
      return i != gateways.end() ? i->second : caf::actor{};
    };
    o.on_event = [this](std::string type, std::string json) {
      events.emplace_back(std::move(type), nlohmann::json::parse(json));
    };
    o.on_owners = [this](std::vector<std::string> xs) {
      owner_reports.push_back(std::move(xs));
    };
    o.save_incarnation = [this](uint64_t x) {
      saved_incarnations.push_back(x);
    };
    return o;
  }

  /// Spawns the cluster actor (with the fixture's memory) and runs its
  /// start.
  void start() {
    cluster = spawn_cluster(sys, options());
    sched.run();
  }

  time_point now() { return sched.clock().now(); }

  membership& view() { return *memory->view; }

  /// Moves simulated time to `t`, firing every timer due on the way at its
  /// own moment and running what it causes before the next one, as a real
  /// clock would. (One jump would fire the probe timer late, and the actor
  /// rightly takes a late timer as a sign of its own slowness.)
  void advance_to(time_point t) {
    auto& clock = sched.clock();
    sched.run();
    while (!clock.schedule().empty() && clock.schedule().begin()->first <= t) {
      sched.trigger_timeout();
      sched.run();
    }
    if (clock.current_time < t) clock.current_time = t;
    sched.run();
  }

  /// The probe timer of the cluster actor in the clock's schedule: its
  /// `(tick_atom, 1)` to itself (1 is `probe_timer` in actors/cluster.cpp).
  using clock_type = caf::detail::simple_actor_clock;
  clock_type::schedule_map::const_iterator probe_round() {
    static constexpr uint64_t probe_timer = 1;
    auto& schedule = sched.clock().schedule();
    auto me = caf::actor_cast<caf::strong_actor_ptr>(cluster);
    for (auto i = schedule.begin(); i != schedule.end(); ++i) {
      if (i->second->subtype != clock_type::actor_msg_type) continue;
      auto& x = static_cast<clock_type::actor_msg&>(*i->second);
      if (x.receiver != me) continue;
      auto& content = x.content->content();
      if (content.match_elements<tick_atom, uint64_t>() &&
          content.get_as<uint64_t>(1) == probe_timer)
        return i;
    }
    CAF_FAIL("the cluster actor has no probe round scheduled");
    return schedule.end();
  }

  /// Runs time up to the next probe round, and every timer due at that same
  /// moment before it, so that what the test reads then (local health,
  /// states) is what the round will see. Returns when the round is due.
  time_point before_next_round() {
    auto due = probe_round()->first;
    advance_to(due - 1ns);
    auto& schedule = sched.clock().schedule();
    while (schedule.begin() != probe_round()) {
      sched.trigger_timeout();
      sched.run();
    }
    return due;
  }

  /// Runs the next probe round and what it causes at that moment.
  time_point next_tick() {
    auto due = before_next_round();
    advance_to(due);
    return due;
  }

  /// Sends the cluster actor what another node would gossip.
  void gossip(std::vector<member> xs) {
    self->send(cluster, gossip_atom::value, std::move(xs));
    sched.run();
  }

  /// `b` and `c`, alive at incarnation 1, as a gossip makes them known.
  void meet_peers() {
    gossip({record("b", member_status::alive, 1),
            record("c", member_status::alive, 1)});
  }

  /// The answer of the cluster actor to `members_atom`.
  std::vector<member> members() {
    self->send(cluster, members_atom::value);
    sched.run();
    std::optional<std::vector<member>> result;
    self->receive([&](std::vector<member>& xs) { result = std::move(xs); },
                  caf::after(0s) >> [] {});
    CAF_REQUIRE(result.has_value());
    return std::move(*result);
  }

  member member_named(const std::string& name) {
    auto xs = members();
    auto i = std::find_if(xs.begin(), xs.end(),
                          [&](const member& m) { return m.name == name; });
    CAF_REQUIRE(i != xs.end());
    return *i;
  }

  std::string status_of(const std::string& name) {
    return std::string{to_string(member_named(name).status)};
  }

  /// How many events of `type` were published about member `name`.
  size_t count_events(const std::string& type, const std::string& name) {
    return static_cast<size_t>(
        std::count_if(events.begin(), events.end(), [&](const auto& e) {
          return e.first == type && e.second.at("name") == name;
        }));
  }

  /// Runs probe rounds until `target` is pinged, then checks that it turns
  /// suspect exactly when the direct ping times out (the probe timeout
  /// stretched by the local health of that moment) and the indirect probe
  /// through `helper` fails, not a millisecond before. Returns that moment.
  time_point expect_suspicion(const std::string& target,
                              const std::string& helper) {
    auto& target_log = *logs.at(target);
    auto& helper_log = *logs.at(helper);
    auto pings = target_log.pings.size();
    uint32_t health = 0;
    time_point probed_at;
    for (int round = 0; round < 10 && target_log.pings.size() == pings;
         ++round) {
      before_next_round();
      health = view().local_health();  // what the round's probe will use
      probed_at = next_tick();
    }
    CAF_REQUIRE_EQUAL(target_log.pings.size(), pings + 1);
    CAF_CHECK_EQUAL(target_log.pings.back(), "a");
    auto timeout = view().options().probe_timeout * (health + 1);
    auto suspects = count_events("member_suspect", target);
    auto asked = helper_log.ping_reqs.size();
    advance_to(probed_at + timeout - 1ns);
    CAF_CHECK_EQUAL(status_of(target), "alive");
    CAF_CHECK_EQUAL(count_events("member_suspect", target), suspects);
    // The indirect probe waits for the direct one to time out.
    CAF_CHECK_EQUAL(helper_log.ping_reqs.size(), asked);
    advance_to(probed_at + timeout);
    CAF_CHECK_EQUAL(status_of(target), "suspect");
    CAF_CHECK_EQUAL(count_events("member_suspect", target), suspects + 1);
    CAF_REQUIRE_EQUAL(helper_log.ping_reqs.size(), asked + 1);
    CAF_CHECK_EQUAL(helper_log.ping_reqs.back(), target);
    CAF_MESSAGE(target << " suspect " << ms(timeout)
                       << "ms after its probe, at local health " << health);
    return now();
  }

  /// Walks the probe rounds after `target` turned suspect at `since` (only
  /// a probe round applies time to suspicions): it is still suspect just
  /// before every round, and turns dead at the first round at which the
  /// documented suspicion timeout, at the local health of that moment, has
  /// passed. Returns that moment.
  time_point expect_death(const std::string& target, time_point since) {
    for (int round = 0; round < 100; ++round) {
      auto due = before_next_round();
      CAF_REQUIRE_EQUAL(status_of(target), "suspect");
      CAF_REQUIRE_EQUAL(count_events("member_dead", target), 0u);
      auto health = view().local_health();
      auto timeout = documented_suspicion_timeout(view());
      CAF_CHECK_EQUAL(timeout.count(), view().suspicion_timeout().count());
      bool expired = due - since >= timeout;
      advance_to(due);
      if (!expired) {
        CAF_REQUIRE_EQUAL(status_of(target), "suspect");
        continue;
      }
      CAF_CHECK_EQUAL(status_of(target), "dead");
      CAF_CHECK_EQUAL(count_events("member_dead", target), 1u);
      CAF_MESSAGE(target << " dead " << ms(due - since)
                         << "ms after the suspicion, timeout "
                         << timeout.count() << "ms at local health " << health);
      return due;
    }
    CAF_FAIL(target << " was never declared dead");
    return now();
  }

  /// Hands the cluster actor writes of this node, as the registry's hook
  /// does, one message each.
  void push(std::initializer_list<std::string> ids) {
    for (auto& id : ids) {
      catalog_entry e;
      e.instance.name = "orders";
      e.instance.id = id;
      e.instance.node = "a";
      self->send(cluster, push_atom::value, std::vector<catalog_entry>{e});
    }
  }

  /// Every gossip `name` received that carried `m` (status and incarnation).
  size_t gossips_carrying(const std::string& name, const member& m) {
    auto& gs = logs.at(name)->gossips;
    return static_cast<size_t>(
        std::count_if(gs.begin(), gs.end(), [&](const std::vector<member>& g) {
          return std::any_of(g.begin(), g.end(), [&](const member& x) {
            return x.name == m.name && x.status == m.status &&
                   x.incarnation == m.incarnation;
          });
        }));
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(cluster_actor_tests, fixture)

CAF_TEST(members made known by gossip join and hear the news) {
  meet_peers();
  CAF_CHECK_EQUAL(count_events("member_joined", "b"), 1u);
  CAF_CHECK_EQUAL(count_events("member_joined", "c"), 1u);
  auto xs = members();
  CAF_REQUIRE_EQUAL(xs.size(), 3u);
  CAF_CHECK_EQUAL(xs[0].name, "a");  // this node first
  CAF_CHECK_EQUAL(status_of("b"), "alive");
  CAF_CHECK_EQUAL(status_of("c"), "alive");
  CAF_REQUIRE(!owner_reports.empty());
  CAF_CHECK_EQUAL(owner_reports.back(),
                  (std::vector<std::string>{"a", "b", "c"}));
  // A new member is met at once: a push-pull with each.
  CAF_CHECK_EQUAL(logs["b"]->syncs.size(), 1u);
  CAF_CHECK_EQUAL(logs["c"]->syncs.size(), 1u);
}

CAF_TEST(a join is answered with the members and is a sign of life) {
  meet_peers();
  self->send(cluster, join_atom::value, record("d", member_status::alive, 1));
  sched.run();
  std::optional<std::vector<member>> answer;
  self->receive([&](std::vector<member>& xs) { answer = std::move(xs); },
                caf::after(0s) >> [] {});
  CAF_REQUIRE(answer.has_value());
  std::vector<std::string> names;
  for (auto& m : *answer) names.push_back(m.name);
  CAF_CHECK_EQUAL(names, (std::vector<std::string>{"a", "b", "c", "d"}));
  CAF_CHECK_EQUAL(count_events("member_joined", "d"), 1u);
  // The join came from d itself: it was seen just now, not only heard of.
  CAF_CHECK_EQUAL(member_named("d").last_seen_ms, clk->unix_ms());
  // So was a push-pull's sender, and a prober.
  self->send(cluster, sync_atom::value,
             std::vector<member>{record("e", member_status::alive, 1)});
  self->send(cluster, ping_atom::value, std::string{"b"});
  sched.run();
  size_t answers = 0;
  for (int i = 0; i < 2; ++i)
    self->receive([&](std::vector<member>&) { ++answers; },
                  [&](uint64_t incarnation) {
                    ++answers;
                    CAF_CHECK_EQUAL(incarnation, 1u);
                  },
                  caf::after(0s) >> [] {});
  CAF_CHECK_EQUAL(answers, 2u);
  CAF_CHECK_EQUAL(member_named("e").last_seen_ms, clk->unix_ms());
  CAF_CHECK_EQUAL(member_named("b").last_seen_ms, clk->unix_ms());
  // What others say of a member is no sign of life from it.
  CAF_CHECK_EQUAL(member_named("c").last_seen_ms, 0);
}

CAF_TEST(a silent member turns suspect then dead at the right moments) {
  meet_peers();
  w->hung.insert("c");
  auto health = view().local_health();
  auto suspected_at = expect_suspicion("c", "b");
  // A suspect keeps its share of the instances until it is declared dead.
  CAF_CHECK_EQUAL(owner_reports.back(),
                  (std::vector<std::string>{"a", "b", "c"}));
  // The suspicion is spread to the members, c itself included, so that it
  // can refute it if it is alive after all.
  auto suspect = record("c", member_status::suspect, 1);
  CAF_CHECK_EQUAL(gossips_carrying("b", suspect), 1u);
  CAF_CHECK_EQUAL(gossips_carrying("c", suspect), 1u);
  // The missed ack counted against this node until b answered that it could
  // not reach c either (Lifeguard's nack): c is the silent one, so this
  // node's timeouts stay as they were.
  CAF_CHECK_EQUAL(view().local_health(), health);
  auto died_at = expect_death("c", suspected_at);
  CAF_CHECK_GREATER_OR_EQUAL(ms(died_at - suspected_at),
                             2 * probe_interval.count());
  CAF_CHECK_EQUAL(gossips_carrying("b", record("c", member_status::dead, 1)),
                  1u);
  CAF_CHECK_EQUAL(owner_reports.back(), (std::vector<std::string>{"a", "b"}));
  // The dead are not probed.
  auto pings = logs["c"]->pings.size();
  for (int i = 0; i < 6; ++i) next_tick();
  CAF_CHECK_EQUAL(logs["c"]->pings.size(), pings);
  CAF_CHECK_EQUAL(status_of("c"), "dead");
}

CAF_TEST(a missed ack counts against this node when no helper answers) {
  meet_peers();
  CAF_REQUIRE_EQUAL(view().local_health(), 0u);
  // Both peers hang: a direct ping times out, and the helper asked to probe
  // in its place does not answer either. No nack: this node may be the slow
  // one, so its local health rises (and its timeouts stretch).
  w->hung.insert("b");
  w->hung.insert("c");
  auto until = now() + 4 * probe_interval;
  while (now() < until) next_tick();
  CAF_CHECK_GREATER_OR_EQUAL(view().local_health(), 1u);
  CAF_CHECK_EQUAL(view().probe_timeout().count(),
                  (200ms * (view().local_health() + 1)).count());
}

CAF_TEST(a refutation brings a suspect back) {
  meet_peers();
  w->hung.insert("c");
  auto suspected_at = expect_suspicion("c", "b");
  auto old_timeout = documented_suspicion_timeout(view());
  // c wakes up, hears the suspicion and refutes it at a higher incarnation.
  w->hung.erase("c");
  w->incarnation["c"] = 2;
  gossip({record("c", member_status::alive, 2)});
  CAF_CHECK_EQUAL(status_of("c"), "alive");
  CAF_CHECK_EQUAL(member_named("c").incarnation, 2u);
  CAF_CHECK_EQUAL(count_events("member_alive", "c"), 1u);
  CAF_CHECK_EQUAL(owner_reports.back(),
                  (std::vector<std::string>{"a", "b", "c"}));
  // Well past the old suspicion timeout, even at the worst local health:
  // nothing is left of the suspicion to kill c.
  auto worst = old_timeout * (view().options().max_local_health + 1);
  while (now() < suspected_at + worst + probe_interval) next_tick();
  CAF_CHECK_EQUAL(status_of("c"), "alive");
  CAF_CHECK_EQUAL(count_events("member_dead", "c"), 0u);
  CAF_CHECK_EQUAL(count_events("member_suspect", "c"), 1u);
  // And c is probed as usual again, answering.
  CAF_CHECK_GREATER(logs["c"]->pings.size(), 2u);
  // A stale rumour of the old suspicion changes nothing.
  gossip({record("c", member_status::suspect, 1)});
  CAF_CHECK_EQUAL(status_of("c"), "alive");
  CAF_CHECK_EQUAL(count_events("member_suspect", "c"), 1u);
}

CAF_TEST(a rumour about this node is refuted at a higher incarnation) {
  meet_peers();
  CAF_REQUIRE_EQUAL(member_named("a").incarnation, 1u);
  auto health = view().local_health();
  gossip({record("a", member_status::suspect, 1)});
  CAF_CHECK_EQUAL(saved_incarnations, (std::vector<uint64_t>{2}));
  auto me = member_named("a");
  CAF_CHECK_EQUAL(me.incarnation, 2u);
  CAF_CHECK_EQUAL(std::string{to_string(me.status)}, "alive");
  auto refutation = record("a", member_status::alive, 2);
  CAF_CHECK_EQUAL(gossips_carrying("b", refutation), 1u);
  CAF_CHECK_EQUAL(gossips_carrying("c", refutation), 1u);
  // Lifeguard: being suspected hints that this node is the slow one.
  CAF_CHECK_EQUAL(view().local_health(), health + 1);
  // The rumour, heard again, is old news: no second raise.
  gossip({record("a", member_status::suspect, 1)});
  CAF_CHECK_EQUAL(saved_incarnations, (std::vector<uint64_t>{2}));
  CAF_CHECK_EQUAL(member_named("a").incarnation, 2u);
  // A burial at the new incarnation is refuted again, one higher.
  gossip({record("a", member_status::dead, 2)});
  CAF_CHECK_EQUAL(saved_incarnations, (std::vector<uint64_t>{2, 3}));
  CAF_CHECK_EQUAL(gossips_carrying("b", record("a", member_status::alive, 3)),
                  1u);
}

CAF_TEST(a leave is announced to every member and answered) {
  meet_peers();
  // A hung member holds the answer up only for the leave's short timeout.
  w->hung.insert("c");
  auto syncs_b = logs["b"]->syncs.size();
  auto syncs_c = logs["c"]->syncs.size();
  auto asked_at = now();
  self->send(cluster, leave_atom::value);
  sched.run();
  CAF_CHECK_EQUAL(saved_incarnations, (std::vector<uint64_t>{2}));
  auto left = record("a", member_status::left, 2);
  for (auto& [name, before] : std::vector<std::pair<std::string, size_t>>{
           {"b", syncs_b}, {"c", syncs_c}}) {
    auto& syncs = logs[name]->syncs;
    CAF_REQUIRE_EQUAL(syncs.size(), before + 1);
    CAF_REQUIRE_EQUAL(syncs.back().size(), 1u);
    CAF_CHECK_EQUAL(syncs.back().front().name, "a");
    CAF_CHECK_EQUAL(std::string{to_string(syncs.back().front().status)},
                    "left");
    CAF_CHECK_EQUAL(syncs.back().front().incarnation, left.incarnation);
  }
  auto answer = [&] {
    std::optional<bool> result;
    self->receive([&](bool x) { result = x; }, caf::after(0s) >> [] {});
    return result;
  };
  advance_to(asked_at + 499ms);
  CAF_CHECK(!answer().has_value());
  advance_to(asked_at + 500ms);
  auto ok = answer();
  CAF_REQUIRE(ok.has_value());
  CAF_CHECK(*ok);
  auto me = member_named("a");
  CAF_CHECK_EQUAL(std::string{to_string(me.status)}, "left");
  CAF_CHECK_EQUAL(me.incarnation, 2u);
}

CAF_TEST(a member that left is not a dead one and is not probed) {
  meet_peers();
  // Probe a few rounds first, so that b is one of the probed.
  for (int i = 0; i < 4; ++i) next_tick();
  CAF_REQUIRE_GREATER(logs["b"]->pings.size(), 0u);
  gossip({record("b", member_status::left, 2)});
  CAF_CHECK_EQUAL(status_of("b"), "left");
  CAF_CHECK_EQUAL(member_named("b").incarnation, 2u);
  CAF_CHECK_EQUAL(count_events("member_left", "b"), 1u);
  CAF_CHECK_EQUAL(owner_reports.back(), (std::vector<std::string>{"a", "c"}));
  auto pings_b = logs["b"]->pings.size();
  auto pings_c = logs["c"]->pings.size();
  // Far past any suspicion timeout (the worst local health included).
  auto far = documented_suspicion_timeout(view()) *
             (view().options().max_local_health + 2);
  auto until = now() + far;
  while (now() < until) next_tick();
  CAF_CHECK_EQUAL(status_of("b"), "left");
  CAF_CHECK_EQUAL(count_events("member_dead", "b"), 0u);
  CAF_CHECK_EQUAL(count_events("member_suspect", "b"), 0u);
  CAF_CHECK_EQUAL(logs["b"]->pings.size(), pings_b);
  // The probing went on all along, with c alone.
  CAF_CHECK_GREATER(logs["c"]->pings.size(), pings_c + 10);
  CAF_CHECK_EQUAL(status_of("c"), "alive");
}

CAF_TEST(a restart keeps the place of the node in the cluster) {
  meet_peers();
  gossip({record("a", member_status::suspect, 1)});  // refuted: incarnation 2
  w->hung.insert("c");
  auto suspected_at = expect_suspicion("c", "b");
  auto old = cluster;
  self->send_exit(cluster, make_error(errc::internal, "crash"));
  sched.run();
  start();
  CAF_CHECK(cluster != old);
  auto xs = members();
  CAF_REQUIRE_EQUAL(xs.size(), 3u);
  CAF_CHECK_EQUAL(xs[0].name, "a");
  CAF_CHECK_EQUAL(xs[0].incarnation, 2u);
  CAF_CHECK_EQUAL(std::string{to_string(xs[0].status)}, "alive");
  CAF_CHECK_EQUAL(status_of("b"), "alive");
  CAF_CHECK_EQUAL(status_of("c"), "suspect");
  CAF_CHECK_EQUAL(member_named("c").incarnation, 1u);
  // The suspicion runs on where it was, timed from when it began.
  expect_death("c", suspected_at);
}

CAF_TEST(a slow node waits longer before it suspects others) {
  meet_peers();
  auto healthy_timeout = documented_suspicion_timeout(view());
  CAF_REQUIRE_EQUAL(view().local_health(), 0u);
  // Every answer comes after the probe timeout (at any local health), as
  // it does when this node is too slow to read its mail in time.
  w->late["b"] = 2s;
  w->late["c"] = 2s;
  for (int i = 0; i < 10; ++i) next_tick();
  CAF_MESSAGE("local health after ten late rounds: " << view().local_health());
  CAF_CHECK_GREATER_OR_EQUAL(view().local_health(), 6u);
  // The members were reached indirectly: no one is suspected.
  CAF_CHECK_EQUAL(status_of("b"), "alive");
  CAF_CHECK_EQUAL(status_of("c"), "alive");
  CAF_CHECK_EQUAL(view().probe_timeout().count(),
                  (200ms * (view().local_health() + 1)).count());
  // Answers come in time again; the probes still under way run out (the
  // longest probe timeout there is) before c hangs, so that the suspicion
  // comes from a probe made while it hangs. The prompt answers heal this
  // node a little meanwhile.
  w->late.clear();
  auto settled = now() + view().options().probe_timeout *
                             (view().options().max_local_health + 1);
  while (now() < settled) next_tick();
  CAF_CHECK_EQUAL(status_of("c"), "alive");
  auto health = view().local_health();
  CAF_MESSAGE("local health when c hangs: " << health);
  CAF_REQUIRE_GREATER_OR_EQUAL(health, 3u);
  // Then c really hangs: it is suspected only after the stretched probe
  // timeout, and buried only after the stretched suspicion timeout.
  w->hung.insert("c");
  auto suspected_at = expect_suspicion("c", "b");
  auto stretched = documented_suspicion_timeout(view());
  CAF_CHECK_GREATER_OR_EQUAL(stretched.count(), 3 * healthy_timeout.count());
  auto died_at = expect_death("c", suspected_at);
  CAF_MESSAGE("c dead " << ms(died_at - suspected_at)
                        << "ms after the suspicion (healthy timeout "
                        << healthy_timeout.count() << "ms)");
  // The burial comes later than a healthy node's would, though less late
  // than the timeout at the moment of the suspicion: b's prompt answers
  // heal this node meanwhile, and the probes of c no longer count against
  // it once b has answered that it cannot reach c either.
  CAF_CHECK_GREATER(ms(died_at - suspected_at), 2 * healthy_timeout.count());
}

CAF_TEST(writes within the push delay go to each member in one message) {
  meet_peers();
  auto t0 = now();
  push({"o-1", "o-2", "o-3"});
  sched.run();
  // Nothing left yet: the timer armed by the first write has not fired.
  CAF_CHECK(logs["b"]->pushes.empty());
  CAF_CHECK(logs["c"]->pushes.empty());
  advance_to(t0 + push_delay - 1ns);
  CAF_CHECK(logs["b"]->pushes.empty());
  advance_to(t0 + push_delay);
  using ids = std::vector<std::vector<std::string>>;
  CAF_CHECK_EQUAL(logs["b"]->pushes, (ids{{"o-1", "o-2", "o-3"}}));
  CAF_CHECK_EQUAL(logs["c"]->pushes, (ids{{"o-1", "o-2", "o-3"}}));
  // The next write arms the timer again.
  push({"o-4"});
  advance_to(now() + push_delay);
  CAF_CHECK_EQUAL(logs["b"]->pushes, (ids{{"o-1", "o-2", "o-3"}, {"o-4"}}));
}

CAF_TEST(without a push delay queued writes leave together and at once) {
  // The default: no timer; the flush goes to the end of the mailbox.
  caf::anon_send_exit(cluster, caf::exit_reason::user_shutdown);
  sched.run();
  push_delay_used = 0ms;
  start();
  meet_peers();
  auto t0 = now();
  // Three writes in the mailbox before the actor runs: one message.
  push({"o-1", "o-2", "o-3"});
  sched.run();
  using ids = std::vector<std::vector<std::string>>;
  CAF_CHECK_EQUAL(logs["b"]->pushes, (ids{{"o-1", "o-2", "o-3"}}));
  CAF_CHECK_EQUAL(logs["c"]->pushes, (ids{{"o-1", "o-2", "o-3"}}));
  CAF_CHECK_EQUAL(now(), t0);
  // A write on an idle node leaves on its own, without waiting.
  push({"o-4"});
  sched.run();
  CAF_CHECK_EQUAL(logs["b"]->pushes, (ids{{"o-1", "o-2", "o-3"}, {"o-4"}}));
  CAF_CHECK_EQUAL(now(), t0);
}

CAF_TEST(a batch past the size limit is split and full ones leave at once) {
  meet_peers();
  auto t0 = now();
  push({"o-1", "o-2", "o-3", "o-4", "o-5", "o-6", "o-7", "o-8", "o-9"});
  sched.run();
  using ids = std::vector<std::vector<std::string>>;
  // push_batch_max (4) entries per message: two full ones without waiting.
  auto full = ids{{"o-1", "o-2", "o-3", "o-4"}, {"o-5", "o-6", "o-7", "o-8"}};
  CAF_CHECK_EQUAL(logs["b"]->pushes, full);
  CAF_CHECK_EQUAL(logs["c"]->pushes, full);
  CAF_CHECK_EQUAL(now(), t0);
  // The rest at the timer, in order.
  advance_to(t0 + push_delay);
  full.push_back({"o-9"});
  CAF_CHECK_EQUAL(logs["b"]->pushes, full);
  CAF_CHECK_EQUAL(logs["c"]->pushes, full);
  // One message of ten entries is split the same way.
  std::vector<catalog_entry> xs(10);
  for (size_t i = 0; i < xs.size(); ++i) {
    xs[i].instance.name = "orders";
    xs[i].instance.id = "p-" + std::to_string(i);
  }
  self->send(cluster, push_atom::value, xs);
  advance_to(now() + push_delay);
  auto& got = logs["b"]->pushes;
  CAF_REQUIRE_EQUAL(got.size(), 6u);
  CAF_CHECK_EQUAL(got[3].size(), 4u);
  CAF_CHECK_EQUAL(got[4].size(), 4u);
  CAF_CHECK_EQUAL(got[5], (std::vector<std::string>{"p-8", "p-9"}));
}

CAF_TEST(the wire size is what the binary serializer writes) {
  // Long strings and more than 127 entries: lengths past one varbyte.
  for (size_t n : {0, 1, 3, 200}) {
    std::vector<catalog_entry> xs(n);
    for (size_t i = 0; i < n; ++i) {
      auto& x = xs[i].instance;
      x.name = "orders";
      x.id = "o-" + std::to_string(i) + std::string(i % 300, 'x');
      x.host = "10.0.0." + std::to_string(i % 250);
      x.port = static_cast<uint16_t>(7000 + i);
      x.tags = {"a", std::string(200, 't')};
      x.metadata["zone"] = std::string(i, 'z');
      x.revision = {(uint64_t{1} << 40) + i, "node-a"};
      xs[i].removed = i % 2 == 1;
    }
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    CAF_REQUIRE(!sink(xs));
    CAF_CHECK_EQUAL(wire_size(sys, xs), buf.size());
  }
}

CAF_TEST_FIXTURE_SCOPE_END()
