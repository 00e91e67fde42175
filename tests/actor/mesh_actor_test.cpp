// Deterministic tests of a bulkhead with its breakers, wired as the mesh
// supervisor wires them: calls take permits, report outcomes one-way, the
// breaker pushes its transitions to the bulkhead, and the test coordinator
// owns time (open duration, queue timeout).

#define CAF_SUITE mesh_actor

#include "caf/test/dsl.hpp"
#include "caf/test/unit_test_impl.hpp"

#include "tests/support/caf_fixture.hpp"

#include "actors/breaker.hpp"
#include "actors/bulkhead.hpp"
#include "actors/mesh_supervisor.hpp"
#include "actors/registry.hpp"

using namespace valmesh;
using namespace std::chrono_literals;

namespace {

using valmesh::test::coordinator_clock;
using valmesh::test::test_config;

struct fixture : test_coordinator_fixture<test_config> {
  std::shared_ptr<coordinator_clock> clk =
      std::make_shared<coordinator_clock>(sched);
  bulkhead_actor bulkhead;
  std::shared_ptr<bulkhead_gate> gate;
  std::map<std::string, breaker_actor> breakers;
  std::vector<expected<mesh_grant>> answers;
  std::vector<std::pair<breaker_state, breaker_state>> transitions;
  call_policy policy;

  fixture() {
    policy.bulkhead = {2, 1, 100ms};
    policy.breaker.window_size = 4;
    policy.breaker.minimum_calls = 4;
    policy.breaker.open_duration = 5s;
    policy.breaker.half_open_calls = 1;
    bulkhead_actor_options o;
    o.service = "orders";
    o.policy = policy;
    o.time = clk;
    o.gate = make_bulkhead_gate(policy, 1);
    gate = o.gate;
    bulkhead = spawn_bulkhead(sys, o);
  }

  ~fixture() override {
    for (auto& [_, b] : breakers)
      caf::anon_send_exit(b, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(bulkhead, caf::exit_reason::user_shutdown);
  }

  void add(const std::string& id) {
    breaker_actor_options o;
    o.service = "orders";
    o.id = id;
    o.breaker = policy.breaker;
    o.generation = 1ull << 32;
    o.time = clk;
    o.on_transition = [this](const breaker_update& u, breaker_state from) {
      transitions.emplace_back(from, u.state);
      caf::anon_send(bulkhead, breaker_atom::value, u);
    };
    auto b = spawn_breaker(sys, o);
    breakers[id] = b;
    service_instance x;
    x.name = "orders";
    x.id = id;
    x.host = "127.0.0.1";
    x.port = 6000;
    x.status = health_status::passing;
    gate->upsert(x, b, o.generation);  // as mesh_supervisor does
    consume_messages();
  }

  /// Asks for a permit; returns the index of its answer slot once answered.
  void acquire(std::vector<std::string> exclude = {}) {
    self->send(bulkhead, acquire_atom::value, std::move(exclude),
               grant_fn{[this](expected<mesh_grant> g) {
                 answers.push_back(std::move(g));
               }});
    consume_messages();
  }

  /// Ends the call of answer `i` with an outcome.
  void finish(size_t i, bool failed) {
    auto& g = *answers.at(i);
    self->send(g.breaker, outcome_atom::value,
               std::vector<breaker_outcome>{
                   {g.grant.generation, failed, int64_t{1000}}});
    self->send(bulkhead, release_atom::value, g.grant.id, g.grant.generation,
               false);
    consume_messages();
  }

  errc last_error() {
    CAF_REQUIRE(!answers.empty());
    CAF_REQUIRE(!answers.back().has_value());
    return answers.back().error().code;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(mesh_tests, fixture)

CAF_TEST(failures open the breaker and the bulkhead stops choosing it) {
  add("o-1");
  for (size_t i = 0; i < 4; ++i) {
    acquire();
    CAF_REQUIRE(answers.back().has_value());
    finish(i, true);
  }
  CAF_REQUIRE_EQUAL(transitions.size(), 1u);
  CAF_CHECK(transitions[0].second == breaker_state::open);
  acquire();
  CAF_CHECK(last_error() == errc::circuit_open);
  // The open duration passes on the coordinator's clock: half-open, and
  // exactly one trial call is admitted.
  advance_time(5s);
  consume_messages();
  CAF_REQUIRE_EQUAL(transitions.size(), 2u);
  CAF_CHECK(transitions[1].second == breaker_state::half_open);
  acquire();
  CAF_REQUIRE(answers.back().has_value());
  auto trial = answers.size() - 1;
  acquire();
  CAF_CHECK(last_error() == errc::circuit_open);
  finish(trial, false);
  CAF_REQUIRE_EQUAL(transitions.size(), 3u);
  CAF_CHECK(transitions[2].second == breaker_state::closed);
  acquire();
  CAF_CHECK(answers.back().has_value());
}

CAF_TEST(stragglers from before a transition do not judge the new state) {
  add("o-1");
  acquire();  // granted while closed, finishes late
  auto late = 0u;
  for (size_t i = 1; i <= 4; ++i) {
    acquire();
    finish(i, true);
  }
  CAF_REQUIRE_EQUAL(transitions.size(), 1u);
  advance_time(5s);
  consume_messages();
  CAF_REQUIRE_EQUAL(transitions.size(), 2u);  // half-open
  finish(late, false);  // an old generation: not a trial result
  CAF_CHECK_EQUAL(transitions.size(), 2u);
}

CAF_TEST(a queued call gets the next permit or times out) {
  add("o-1");
  acquire();
  acquire();
  acquire();  // queued: no answer yet
  CAF_CHECK_EQUAL(answers.size(), 2u);
  acquire();  // the queue (1) is full: rejected at once
  CAF_CHECK(last_error() == errc::bulkhead_full);
  finish(0, false);  // the waiter takes the permit
  CAF_REQUIRE_EQUAL(answers.size(), 4u);
  CAF_CHECK(answers.back().has_value());
  acquire();  // queued again, and nobody releases
  advance_time(100ms);
  consume_messages();
  CAF_REQUIRE_EQUAL(answers.size(), 5u);
  CAF_CHECK(last_error() == errc::bulkhead_full);
}

CAF_TEST(retries avoid the instance that failed) {
  add("o-1");
  add("o-2");
  for (int i = 0; i < 4; ++i) {
    acquire({"o-1"});
    CAF_REQUIRE(answers.back().has_value());
    CAF_CHECK_EQUAL(answers.back()->grant.id, "o-2");
    finish(answers.size() - 1, false);
  }
}

CAF_TEST_FIXTURE_SCOPE_END()

namespace {

/// The mesh supervisor with a real registry behind it, as the node wires
/// them (the registry only answers the supervisor's start-up snapshot).
struct supervisor_fixture : test_coordinator_fixture<test_config> {
  std::shared_ptr<coordinator_clock> clk =
      std::make_shared<coordinator_clock>(sched);
  mesh_directory directory;
  registry_actor reg;
  mesh_supervisor_actor sup;

  supervisor_fixture() {
    registry_options r;
    r.time = clk;
    r.catalog.node_name = "node-a";
    r.seed = 1;
    reg = spawn_registry(sys, r);
    mesh_options m;
    m.time = clk;
    m.bulkheads = &directory;
    m.registry = [this] { return reg; };
    sup = spawn_mesh_supervisor(sys, std::move(m));
    consume_messages();  // the start-up snapshot (empty)
  }

  ~supervisor_fixture() override {
    caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(reg, caf::exit_reason::user_shutdown);
  }

  static catalog_change registered(const std::string& id, uint16_t port) {
    catalog_change c;
    c.what = catalog_change::kind::registered;
    c.instance.name = "orders";
    c.instance.id = id;
    c.instance.host = "127.0.0.1";
    c.instance.port = port;
    c.instance.status = health_status::passing;
    return c;
  }

  /// Delivers changes and lets the supervisor handle that one message and
  /// nothing else: its children's mailboxes are left as they are.
  void supervisor_handles(std::vector<catalog_change> changes) {
    self->send(sup, changed_atom::value, std::move(changes));
    CAF_REQUIRE(sched.prioritize(sup));
    sched.run_once();
  }

  size_t members_seen_by_a_call() {
    auto e = directory.find("orders");
    return e ? e.gate->view("orders").members.size() : 0;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(mesh_supervisor_tests, supervisor_fixture)

CAF_TEST(a published bulkhead already holds the instances of its service) {
  // A call finds the bulkhead in the directory and takes a permit from its
  // gate on its own thread, with no message in between: once the service
  // is published its first instance must be in the gate, or the call
  // fails with "no instance is registered" although the registration was
  // acknowledged.
  supervisor_handles({registered("o-1", 6000)});
  CAF_REQUIRE(directory.find("orders"));
  CAF_CHECK_EQUAL(members_seen_by_a_call(), 1u);
  supervisor_handles({registered("o-2", 6001)});
  CAF_CHECK_EQUAL(members_seen_by_a_call(), 2u);
  consume_messages();
  CAF_CHECK_EQUAL(members_seen_by_a_call(), 2u);
}

CAF_TEST(a restarted bulkhead is published with every instance) {
  supervisor_handles({registered("o-1", 6000), registered("o-2", 6001)});
  consume_messages();
  auto before = directory.find("orders");
  CAF_REQUIRE(before);
  caf::anon_send_exit(before.actor, caf::exit_reason::kill);
  consume_messages();
  auto after = directory.find("orders");
  CAF_REQUIRE(after);
  CAF_CHECK(after.actor != before.actor);
  CAF_CHECK_EQUAL(after.gate->view("orders").members.size(), 2u);
}

CAF_TEST_FIXTURE_SCOPE_END()
