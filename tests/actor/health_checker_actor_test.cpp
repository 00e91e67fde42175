// Deterministic tests of a health checker: the test coordinator owns time,
// a fake prober records each probe with the simulated time it started and
// lets the test answer it, and a real registry receives the results.

#define CAF_SUITE health_checker_actor

#include "caf/test/dsl.hpp"
#include "caf/test/unit_test_impl.hpp"

#include "tests/support/caf_fixture.hpp"

#include "actors/health_checker.hpp"
#include "actors/protocol.hpp"
#include "actors/registry.hpp"

using namespace valmesh;
using namespace std::chrono_literals;

namespace {

using valmesh::test::coordinator_clock;
using valmesh::test::test_config;

/// Records probes; the test completes them.
class fake_prober final : public prober {
 public:
  struct call {
    probe_target target;
    clock::time_point at;
    callback done;
  };

  explicit fake_prober(const valmesh::clock& clk) : clk_(clk) {}

  void probe(const probe_target& target, std::chrono::milliseconds,
             callback done) override {
    calls.push_back({target, clk_.now(), std::move(done)});
  }

  std::vector<call> calls;

 private:
  const valmesh::clock& clk_;
};

struct fixture : test_coordinator_fixture<test_config> {
  std::shared_ptr<coordinator_clock> clk =
      std::make_shared<coordinator_clock>(sched);
  std::shared_ptr<fake_prober> probes = std::make_shared<fake_prober>(*clk);
  registry_actor reg;
  health_checker_actor checker;

  fixture() {
    registry_options ropts;
    ropts.time = clk;
    ropts.catalog.node_name = "node-a";
    ropts.catalog.deregister_critical_after = 0s;
    reg = spawn_registry(sys, ropts);
    checker_options copts;
    copts.service = "orders";
    copts.interval = 10s;
    copts.timeout = 1s;
    copts.first_spread = 1s;
    copts.thresholds = {2, 1};
    copts.time = clk;
    copts.probe = probes;
    copts.registry = [this] { return reg; };
    copts.seed = 7;
    checker = spawn_health_checker(sys, copts);
    run_messages();
  }

  ~fixture() override {
    caf::anon_send_exit(checker, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(reg, caf::exit_reason::user_shutdown);
  }

  void run_messages() { consume_messages(); }

  /// Registers an instance in the registry and tells the checker about it.
  void add(const std::string& id) {
    service_instance x;
    x.name = "orders";
    x.id = id;
    x.host = "127.0.0.1";
    x.port = 6000;
    x.health_endpoint = "/ready";
    self->send(reg, register_atom::value, x);
    self->send(checker, watch_atom::value, x);
    run_messages();
  }

  health_status status_of(const std::string& id) {
    std::optional<health_status> out;
    auto hdl = self->request(reg, caf::infinite, get_atom::value,
                             std::string{"orders"});
    run_messages();
    hdl.receive(
        [&](std::vector<service_instance>& xs) {
          for (auto& x : xs)
            if (x.id == id) out = x.status;
        },
        [&](caf::error&) {});
    return out.value_or(health_status::unknown);
  }

  /// Answers the newest probe with `verdict` and lets the messages flow.
  void answer(check_verdict verdict) {
    auto done = probes->calls.back().done;
    done(check_result{
        verdict, 500us,
        verdict == check_verdict::passing ? "HTTP 200" : "HTTP 500"});
    run_messages();
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(health_checker_tests, fixture)

CAF_TEST(the first check comes within the spread and then every interval) {
  auto t0 = clk->now();
  add("o-1");
  CAF_CHECK_EQUAL(probes->calls.size(), 0u);
  for (int step = 0; step < 10 && probes->calls.empty(); ++step) {
    advance_time(100ms);
    run_messages();
  }
  CAF_REQUIRE_EQUAL(probes->calls.size(), 1u);
  auto first = probes->calls[0].at;
  CAF_CHECK(first - t0 < 1s);
  CAF_CHECK_EQUAL(probes->calls[0].target.path, "/ready");
  CAF_CHECK_EQUAL(probes->calls[0].target.port, 6000);
  answer(check_verdict::passing);
  for (int i = 1; i <= 3; ++i) {
    advance_time(10s);
    run_messages();
    CAF_REQUIRE_EQUAL(probes->calls.size(), static_cast<size_t>(i + 1));
    // Exactly on the grid: no drift from scheduling.
    CAF_CHECK(probes->calls[i].at - first == i * std::chrono::seconds{10});
    answer(check_verdict::passing);
  }
}

CAF_TEST(results reach the registry with the thresholds applied) {
  add("o-1");
  advance_time(1s);
  run_messages();
  answer(check_verdict::passing);
  CAF_CHECK(status_of("o-1") == health_status::passing);
  advance_time(10s);
  run_messages();
  answer(check_verdict::critical);  // one failure: still passing
  CAF_CHECK(status_of("o-1") == health_status::passing);
  advance_time(10s);
  run_messages();
  answer(check_verdict::critical);
  CAF_CHECK(status_of("o-1") == health_status::critical);
  advance_time(10s);
  run_messages();
  answer(check_verdict::passing);
  CAF_CHECK(status_of("o-1") == health_status::passing);
}

CAF_TEST(a check in flight is not started twice) {
  add("o-1");
  advance_time(1s);
  run_messages();
  CAF_REQUIRE_EQUAL(probes->calls.size(), 1u);
  // Unanswered across two intervals: no second probe piles up.
  advance_time(10s);
  run_messages();
  advance_time(10s);
  run_messages();
  CAF_CHECK_EQUAL(probes->calls.size(), 1u);
  answer(check_verdict::passing);
  advance_time(10s);
  run_messages();
  CAF_CHECK_EQUAL(probes->calls.size(), 2u);
}

CAF_TEST(unwatched instances are no longer checked) {
  add("o-1");
  advance_time(1s);
  run_messages();
  answer(check_verdict::passing);
  self->send(checker, unwatch_atom::value, std::string{"o-1"});
  run_messages();
  advance_time(30s);
  run_messages();
  CAF_CHECK_EQUAL(probes->calls.size(), 1u);
  // A late answer for a forgotten instance is ignored.
  answer(check_verdict::critical);
  CAF_CHECK(status_of("o-1") == health_status::passing);
}

CAF_TEST(timers do not multiply as instances come and go) {
  // Each new instance is due sooner than the armed timer, so each re-arms
  // earlier; the superseded timers must not start chains of their own.
  for (int i = 0; i < 20; ++i) add("o-" + std::to_string(i));
  for (int step = 0; step < 40; ++step) {
    advance_time(1s);
    run_messages();
    for (auto& c : probes->calls)
      if (c.done) {
        auto done = std::move(c.done);
        c.done = nullptr;
        done(check_result{check_verdict::passing, 500us, "HTTP 200"});
      }
    run_messages();
  }
  CAF_CHECK_LESS_OR_EQUAL(sched.clock().schedule().size(), 2u);
  // Every instance was checked once per 10s interval: 20 x 4.
  CAF_CHECK_GREATER_OR_EQUAL(probes->calls.size(), 80u);
  CAF_CHECK_LESS_OR_EQUAL(probes->calls.size(), 100u);
}

CAF_TEST_FIXTURE_SCOPE_END()
