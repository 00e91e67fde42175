// Deterministic tests of the supervisor actor applying its policy: which
// children come back after a failure under each strategy, restart types,
// and escalation past the intensity, with introspection showing it.

#define CAF_SUITE supervisor_actor

#include "caf/test/dsl.hpp"
#include "caf/test/unit_test_impl.hpp"

#include "tests/support/caf_fixture.hpp"

#include "actors/node_supervisor.hpp"

using namespace valmesh;
using namespace std::chrono_literals;

namespace {

using valmesh::test::coordinator_clock;
using valmesh::test::test_config;

/// A worker that ends normally when sent 0.
caf::behavior child_impl(caf::event_based_actor* self) {
  return {[self](int x) {
    if (x == 0) self->quit();
    return x;
  }};
}

struct fixture : test_coordinator_fixture<test_config> {
  std::shared_ptr<coordinator_clock> clk =
      std::make_shared<coordinator_clock>(sched);
  std::vector<std::string> starts;
  caf::actor sup;
  std::optional<caf::error> sup_exit;

  caf::actor start(restart_strategy strategy, uint32_t intensity,
                   std::vector<restart_type> types) {
    std::vector<child_spec> children;
    for (size_t i = 0; i < types.size(); ++i) {
      std::string id(1, static_cast<char>('a' + i));
      children.push_back({id, "worker",
                          [this, id](caf::actor_system& s) {
                            starts.push_back(id);
                            return s.spawn(child_impl);
                          },
                          types[i]});
    }
    supervisor_options o;
    o.strategy = strategy;
    o.intensity = intensity;
    o.time = clk;
    sup = spawn_supervisor(sys, "sup", o, std::move(children));
    sup->attach_functor([this](const caf::error& e) { sup_exit = e; });
    run();
    return sup;
  }

  ~fixture() override {
    if (sup) caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
    run();
  }

  actor_figures figures() {
    self->send(sup, inspect_atom::value);
    run();
    std::optional<actor_figures> result;
    self->receive([&](actor_figures& f) { result = std::move(f); },
                  caf::after(0s) >> [] {});
    CAF_REQUIRE(result.has_value());
    return *result;
  }

  caf::actor child(size_t i) { return figures().children.at(i).handle; }

  void fail(size_t i) {
    self->send_exit(child(i), make_error(errc::internal, "boom"));
    run();
  }
};

const std::vector<restart_type> permanent3(3, restart_type::permanent);

}  // namespace

CAF_TEST_FIXTURE_SCOPE(supervisor_tests, fixture)

CAF_TEST(one_for_one restarts only the failed child) {
  start(restart_strategy::one_for_one, 5, permanent3);
  CAF_CHECK_EQUAL(starts, (std::vector<std::string>{"a", "b", "c"}));
  auto a = child(0), c = child(2);
  fail(1);
  CAF_CHECK_EQUAL(starts, (std::vector<std::string>{"a", "b", "c", "b"}));
  auto f = figures();
  CAF_CHECK_EQUAL(f.children[0].handle, a);
  CAF_CHECK_EQUAL(f.children[2].handle, c);
  CAF_CHECK_EQUAL(f.children[1].restarts, 1u);
  CAF_CHECK_EQUAL(f.children[1].state, "running");
  CAF_REQUIRE(f.children[1].last_failure.has_value());
  CAF_CHECK_NOT_EQUAL(f.children[1].last_failure->reason.find("boom"),
                      std::string::npos);
  CAF_CHECK_EQUAL(f.strategy, "one_for_one");
}

CAF_TEST(one_for_all restarts every child in start order) {
  start(restart_strategy::one_for_all, 5, permanent3);
  auto a = child(0);
  fail(1);
  CAF_CHECK_EQUAL(starts,
                  (std::vector<std::string>{"a", "b", "c", "a", "b", "c"}));
  auto f = figures();
  CAF_CHECK_NOT_EQUAL(f.children[0].handle, a);
  for (auto& c : f.children) CAF_CHECK_EQUAL(c.state, "running");
  CAF_CHECK_EQUAL(f.strategy, "one_for_all");
}

CAF_TEST(rest_for_one restarts the child and the younger ones) {
  start(restart_strategy::rest_for_one, 5, permanent3);
  auto a = child(0);
  fail(1);
  CAF_CHECK_EQUAL(starts, (std::vector<std::string>{"a", "b", "c", "b", "c"}));
  CAF_CHECK_EQUAL(child(0), a);
}

CAF_TEST(temporary and transient children follow their restart type) {
  start(restart_strategy::one_for_one, 5,
        {restart_type::temporary, restart_type::transient,
         restart_type::permanent});
  fail(0);  // temporary: never restarted
  self->send(child(1), 0);
  run();  // transient ending normally: not restarted
  CAF_CHECK_EQUAL(starts, (std::vector<std::string>{"a", "b", "c"}));
  auto f = figures();
  CAF_CHECK_EQUAL(f.children[0].state, "stopped");
  CAF_CHECK_EQUAL(f.children[1].state, "stopped");
  CAF_CHECK_EQUAL(f.children[2].state, "running");
  CAF_CHECK(!sup_exit.has_value());
}

CAF_TEST(failures past the intensity stop the children and escalate) {
  start(restart_strategy::one_for_one, 2, permanent3);
  auto c = child(2);
  std::optional<caf::error> c_exit;
  c->attach_functor([&](const caf::error& e) { c_exit = e; });
  c = nullptr;
  fail(0);
  fail(0);
  CAF_CHECK(!sup_exit.has_value());
  self->send_exit(child(0), make_error(errc::internal, "boom again"));
  run();
  CAF_REQUIRE(sup_exit.has_value());
  CAF_CHECK_NOT_EQUAL(to_string(*sup_exit).find("boom again"),
                      std::string::npos);
  CAF_CHECK(c_exit.has_value());  // the siblings went down with it
  sup = nullptr;
}

CAF_TEST(a stop takes the children down youngest first and kills the stuck) {
  std::vector<std::string> exits;
  std::vector<child_spec> children;
  for (std::string id : {"a", "b", "c"})
    children.push_back(
        {id, "worker",
         [&exits, id](caf::actor_system& s) {
           auto h =
               s.spawn([id](caf::event_based_actor* self) -> caf::behavior {
                 // "c" ignores shutdown requests, as a wedged actor would.
                 if (id == "c") self->set_exit_handler([](caf::exit_msg&) {});
                 return {[](int x) { return x; }};
               });
           h->attach_functor([&exits, id] { exits.push_back(id); });
           return h;
         },
         restart_type::permanent, 2s});
  supervisor_options o;
  o.time = clk;
  sup = spawn_supervisor(sys, "sup", o, std::move(children));
  sup->attach_functor([this](const caf::error& e) { sup_exit = e; });
  sched.run();  // jobs only: run() would also fire the shutdown timer
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  sched.run();
  // c was asked first and ignores it; b and a wait their turn.
  CAF_CHECK(exits.empty());
  CAF_CHECK(!sup_exit.has_value());
  sched.trigger_timeout();  // c's 2 s pass: it is killed
  sched.run();
  CAF_CHECK_EQUAL(exits, (std::vector<std::string>{"c", "b", "a"}));
  CAF_REQUIRE(sup_exit.has_value());
  CAF_CHECK_EQUAL(*sup_exit, caf::exit_reason::user_shutdown);
  sup = nullptr;
}

CAF_TEST_FIXTURE_SCOPE_END()
