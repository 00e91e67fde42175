// Deterministic tests of the registry actor with CAF's test DSL: a test
// coordinator runs every message by hand and owns the clock, so lease
// expiry is driven by advancing simulated time, never by waiting.

#define CAF_SUITE registry_actor

#include "caf/test/dsl.hpp"
#include "caf/test/unit_test_impl.hpp"

#include "tests/support/caf_fixture.hpp"

#include "actors/protocol.hpp"
#include "actors/registry.hpp"

using namespace valmesh;
using namespace std::chrono_literals;

namespace {

using valmesh::test::coordinator_clock;
using valmesh::test::test_config;

struct fixture : test_coordinator_fixture<test_config> {
  registry_actor reg;

  fixture() {
    registry_options opts;
    opts.time = std::make_shared<coordinator_clock>(sched);
    opts.catalog.node_name = "node-a";
    opts.catalog.deregister_critical_after = 60s;
    opts.tick_interval = 250ms;
    opts.seed = 1;
    reg = spawn_registry(sys, opts);
    run();
  }

  ~fixture() override {
    caf::anon_send_exit(reg, caf::exit_reason::user_shutdown);
  }

  /// Sends a request, runs the messages (not the timers) and returns the
  /// answer, or the error's code.
  template <class T, class... Ts>
  expected<T> call(Ts... xs) {
    std::optional<expected<T>> out;
    auto hdl = self->request(reg, caf::infinite, std::move(xs)...);
    consume_messages();
    hdl.receive([&](T& x) { out.emplace(std::move(x)); },
                [&](caf::error& err) { out.emplace(to_failure(err)); });
    return std::move(*out);
  }

  static service_instance make(std::string id, uint16_t port,
                               int64_t ttl_ms = 0) {
    service_instance x;
    x.name = "orders";
    x.id = std::move(id);
    x.host = "127.0.0.1";
    x.port = port;
    x.ttl_ms = ttl_ms;
    return x;
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(registry_actor_tests, fixture)

CAF_TEST(registration is answered with the stored instance) {
  self->send(reg, register_atom::value, make("orders-1", 6000));
  expect((register_atom, service_instance), from(self).to(reg).with(_, _));
  expect((service_instance), from(reg).to(self).with(_));
  auto xs = call<std::vector<service_instance>>(get_atom::value,
                                                std::string{"orders"});
  CAF_REQUIRE(xs.has_value());
  CAF_REQUIRE_EQUAL(xs->size(), 1u);
  CAF_CHECK_EQUAL(xs->front().id, "orders-1");
  CAF_CHECK_EQUAL(xs->front().node, "node-a");
}

CAF_TEST(invalid instances are rejected and change nothing) {
  auto bad = make("orders-1", 0);
  auto r = call<service_instance>(register_atom::value, bad);
  CAF_REQUIRE(!r);
  CAF_CHECK(r.error().code == errc::invalid_argument);
  auto list = call<std::vector<service_summary>>(list_atom::value);
  CAF_REQUIRE(list.has_value());
  CAF_CHECK(list->empty());
}

CAF_TEST(resolve rotates and follows health) {
  CAF_REQUIRE(call<service_instance>(register_atom::value, make("o-1", 6000)));
  CAF_REQUIRE(call<service_instance>(register_atom::value, make("o-2", 6001)));
  resolve_options any{lb_strategy::round_robin, false};
  auto a =
      call<service_instance>(resolve_atom::value, std::string{"orders"}, any);
  auto b =
      call<service_instance>(resolve_atom::value, std::string{"orders"}, any);
  CAF_REQUIRE(a && b);
  CAF_CHECK_NOT_EQUAL(a->id, b->id);
  resolve_options healthy{lb_strategy::round_robin, true};
  auto none = call<service_instance>(resolve_atom::value, std::string{"orders"},
                                     healthy);
  CAF_REQUIRE(!none);
  CAF_CHECK(none.error().code == errc::no_healthy_instance);
  CAF_REQUIRE(call<service_instance>(status_atom::value, std::string{"orders"},
                                     std::string{"o-2"},
                                     health_status::passing));
  for (int i = 0; i < 3; ++i) {
    auto x = call<service_instance>(resolve_atom::value, std::string{"orders"},
                                    healthy);
    CAF_REQUIRE(x.has_value());
    CAF_CHECK_EQUAL(x->id, "o-2");
  }
}

CAF_TEST(unknown services are not found) {
  auto r = call<service_instance>(resolve_atom::value, std::string{"nope"},
                                  resolve_options{});
  CAF_REQUIRE(!r);
  CAF_CHECK(r.error().code == errc::not_found);
  auto d = call<service_instance>(deregister_atom::value, std::string{"nope"},
                                  std::string{"x"});
  CAF_REQUIRE(!d);
  CAF_CHECK(d.error().code == errc::not_found);
}

CAF_TEST(an idle registry arms no timer) {
  CAF_REQUIRE(call<service_instance>(register_atom::value, make("o-1", 6000)));
  CAF_CHECK(!sched.trigger_timeout());
}

CAF_TEST(a lease that runs out turns critical and is removed later) {
  CAF_REQUIRE(
      call<service_instance>(register_atom::value, make("o-1", 6000, 1000)));
  // Heartbeats within the lease keep it passing.
  for (int i = 0; i < 4; ++i) {
    advance_time(750ms);
    consume_messages();
    auto hb = call<service_instance>(heartbeat_atom::value,
                                     std::string{"orders"}, std::string{"o-1"});
    CAF_REQUIRE(hb.has_value());
    CAF_CHECK(hb->status == health_status::passing);
  }
  // Silence: critical after the lease, removed 60s after that.
  advance_time(1250ms);
  consume_messages();
  auto xs = call<std::vector<service_instance>>(get_atom::value,
                                                std::string{"orders"});
  CAF_REQUIRE(xs.has_value());
  CAF_CHECK(xs->front().status == health_status::critical);
  for (int i = 0; i < 240; ++i) {
    advance_time(250ms);
    consume_messages();
  }
  auto gone = call<std::vector<service_instance>>(get_atom::value,
                                                  std::string{"orders"});
  CAF_REQUIRE(!gone);
  CAF_CHECK(gone.error().code == errc::not_found);
  // Nothing left to expire: the timer is idle again.
  CAF_CHECK(!sched.trigger_timeout());
}

CAF_TEST(with removal disabled a renewed lease still expires again) {
  // deregisterCriticalAfter 0s: a critical instance files no removal, so
  // the timer stops; the heartbeat that revives it must re-arm it.
  registry_options opts;
  opts.time = std::make_shared<coordinator_clock>(sched);
  opts.catalog.node_name = "node-a";
  opts.catalog.deregister_critical_after = 0s;
  opts.tick_interval = 250ms;
  auto keep = spawn_registry(sys, opts);
  auto ask = [&](auto... xs) {
    std::optional<expected<service_instance>> out;
    auto hdl = self->request(keep, caf::infinite, xs...);
    consume_messages();
    hdl.receive([&](service_instance& x) { out.emplace(std::move(x)); },
                [&](caf::error& err) { out.emplace(to_failure(err)); });
    return std::move(*out);
  };
  CAF_REQUIRE(ask(register_atom::value, make("o-1", 6000, 1000)));
  advance_time(1250ms);
  consume_messages();
  CAF_CHECK(!sched.trigger_timeout());  // critical, nothing more to do
  auto hb =
      ask(heartbeat_atom::value, std::string{"orders"}, std::string{"o-1"});
  CAF_REQUIRE(hb.has_value());
  CAF_CHECK(hb->status == health_status::passing);
  advance_time(1250ms);
  consume_messages();
  std::optional<health_status> status;
  auto hdl = self->request(keep, caf::infinite, get_atom::value,
                           std::string{"orders"});
  consume_messages();
  hdl.receive([&](std::vector<service_instance>& xs) { status = xs[0].status; },
              [&](caf::error&) {});
  CAF_CHECK(status == health_status::critical);
  caf::anon_send_exit(keep, caf::exit_reason::user_shutdown);
}

CAF_TEST_FIXTURE_SCOPE_END()
