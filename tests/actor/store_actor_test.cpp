// Deterministic tests of the store actor and of the registry over it, with
// CAF's test DSL: group commit (appends in the mailbox together share one
// flush, and none is answered before it), the registry loading its catalog
// before it serves anything, a restarted registry rebuilding from the store,
// a store that is not running failing a registration with `unavailable`, a
// store or registry that dies with requests in flight answering them, and
// the appends nobody waits for (replicated writes): one message per batch,
// fsynced with the next group or at the latest `lazy_sync` later.

#define CAF_SUITE store_actor

#include "caf/test/dsl.hpp"
#include "caf/test/unit_test_impl.hpp"

#include "tests/support/caf_fixture.hpp"

#include "actors/protocol.hpp"
#include "actors/registry.hpp"
#include "actors/store.hpp"

using namespace valmesh;
using namespace std::chrono_literals;

namespace {

using valmesh::test::coordinator_clock;
using valmesh::test::test_config;

service_instance make(std::string id, uint16_t port) {
  service_instance x;
  x.name = "orders";
  x.id = std::move(id);
  x.host = "127.0.0.1";
  x.port = port;
  return x;
}

struct fixture : test_coordinator_fixture<test_config> {
  std::shared_ptr<memory_store> backend = std::make_shared<memory_store>();
  store_actor store;
  /// What the registry's getter answers (null: "the store is restarting").
  store_actor current;

  fixture() {
    store = spawn_store(
        sys, {backend, false, std::chrono::milliseconds{50}, nullptr});
    current = store;
    run();
  }

  ~fixture() override {
    caf::anon_send_exit(store, caf::exit_reason::user_shutdown);
  }

  registry_actor spawn_registry_over_store() {
    registry_options opts;
    opts.time = std::make_shared<coordinator_clock>(sched);
    opts.catalog.node_name = "node-a";
    opts.seed = 1;
    opts.store = [this] { return current; };
    return spawn_registry(sys, opts);
  }

  template <class T, class Handle, class... Ts>
  expected<T> call(const Handle& hdl, Ts... xs) {
    std::optional<expected<T>> out;
    auto r = self->request(hdl, caf::infinite, std::move(xs)...);
    consume_messages();
    r.receive([&](T& x) { out.emplace(std::move(x)); },
              [&](caf::error& err) { out.emplace(to_failure(err)); });
    return std::move(*out);
  }
};

}  // namespace

CAF_TEST_FIXTURE_SCOPE(store_actor_tests, fixture)

CAF_TEST(appends in the mailbox together share one flush) {
  auto a = self->request(store, caf::infinite, append_atom::value,
                         store_mutation::put(make("o-1", 1)));
  auto b = self->request(store, caf::infinite, append_atom::value,
                         store_mutation::put(make("o-2", 2)));
  auto c = self->request(store, caf::infinite, append_atom::value,
                         store_mutation::remove("orders", "o-1", 9));
  expect((append_atom, store_mutation), from(self).to(store).with(_, _));
  // Not answered before the flush that ends the group.
  disallow((uint64_t), from(store).to(self));
  expect((append_atom, store_mutation), from(self).to(store).with(_, _));
  expect((append_atom, store_mutation), from(self).to(store).with(_, _));
  expect((flush_atom), from(store).to(store));
  std::vector<uint64_t> answers;
  for (auto* h : {&a, &b, &c})
    h->receive([&](uint64_t n) { answers.push_back(n); },
               [&](caf::error& err) { CAF_FAIL(sys.render(err)); });
  CAF_CHECK_EQUAL(answers, (std::vector<uint64_t>{3, 3, 3}));
  CAF_CHECK_EQUAL(backend->stats().syncs, 1u);
  auto c2 = backend->contents();
  CAF_REQUIRE_EQUAL(c2.instances.size(), 1u);
  CAF_CHECK_EQUAL(c2.instances[0].id, "o-2");
  CAF_CHECK_EQUAL(c2.index, 9u);
  // The next append starts a new group.
  auto d = call<uint64_t>(store, append_atom::value,
                          store_mutation::put(make("o-3", 3)));
  CAF_CHECK(d.has_value());
  CAF_CHECK_EQUAL(backend->stats().syncs, 2u);
}

CAF_TEST(the registry loads the store before it serves anything) {
  auto x = make("o-1", 6001);
  x.node = "node-z";
  x.registered_at_ms = 1234;
  x.create_index = 40;
  x.modify_index = 41;
  backend->append(store_mutation::put(x));
  backend->append(store_mutation::mark_index(50));
  auto reg = spawn_registry_over_store();
  // Asked at once: the answer waits for the load.
  auto xs = call<std::vector<service_instance>>(reg, get_atom::value,
                                                std::string{"orders"});
  CAF_REQUIRE(xs.has_value());
  CAF_REQUIRE_EQUAL(xs->size(), 1u);
  CAF_CHECK_EQUAL(xs->front().node, "node-z");
  CAF_CHECK_EQUAL(xs->front().registered_at_ms, 1234);
  CAF_CHECK_EQUAL(xs->front().create_index, 40u);
  CAF_CHECK(xs->front().status == health_status::unknown);
  // A new registration continues after the store's index and is in the
  // store once acknowledged.
  auto y = call<service_instance>(reg, register_atom::value, make("o-2", 6002));
  CAF_REQUIRE(y.has_value());
  CAF_CHECK_GREATER(y->create_index, 50u);
  CAF_CHECK_EQUAL(backend->contents().instances.size(), 2u);
  caf::anon_send_exit(reg, caf::exit_reason::user_shutdown);
}

CAF_TEST(a registration is acknowledged only after the store flushed) {
  auto reg = spawn_registry_over_store();
  run();
  self->send(reg, register_atom::value, make("o-1", 6001));
  expect((register_atom, service_instance), from(self).to(reg).with(_, _));
  disallow((service_instance), from(reg).to(self));
  expect((append_atom, store_mutation), from(reg).to(store).with(_, _));
  expect((flush_atom), from(store).to(store));
  expect((uint64_t), from(store).to(reg));
  expect((service_instance), from(reg).to(self));
  caf::anon_send_exit(reg, caf::exit_reason::user_shutdown);
}

CAF_TEST(a restarted registry rebuilds its catalog from the store) {
  auto reg = spawn_registry_over_store();
  CAF_REQUIRE(
      call<service_instance>(reg, register_atom::value, make("o-1", 6001)));
  CAF_REQUIRE(
      call<service_instance>(reg, register_atom::value, make("o-2", 6002)));
  CAF_REQUIRE(call<service_instance>(
      reg, deregister_atom::value, std::string{"orders"}, std::string{"o-1"}));
  caf::anon_send_exit(reg, caf::exit_reason::kill);
  run();
  auto again = spawn_registry_over_store();
  auto xs = call<std::vector<service_instance>>(again, get_atom::value,
                                                std::string{"orders"});
  CAF_REQUIRE(xs.has_value());
  CAF_REQUIRE_EQUAL(xs->size(), 1u);
  CAF_CHECK_EQUAL(xs->front().id, "o-2");
  caf::anon_send_exit(again, caf::exit_reason::user_shutdown);
}

CAF_TEST(without a running store a registration fails and changes nothing) {
  auto reg = spawn_registry_over_store();
  run();
  current = nullptr;  // the store is between two incarnations
  auto r = call<service_instance>(reg, register_atom::value, make("o-1", 6001));
  CAF_REQUIRE(!r);
  CAF_CHECK(r.error().code == errc::unavailable);
  auto list = call<std::vector<service_summary>>(reg, list_atom::value);
  CAF_REQUIRE(list.has_value());
  CAF_CHECK(list->empty());
  current = store;
  CAF_CHECK(
      call<service_instance>(reg, register_atom::value, make("o-1", 6001)));
  caf::anon_send_exit(reg, caf::exit_reason::user_shutdown);
}

CAF_TEST(a store that dies before its flush fails the waiting appends) {
  auto doomed = spawn_store(
      sys, {backend, false, std::chrono::milliseconds{50}, nullptr});
  run();
  auto r = self->request(doomed, caf::infinite, append_atom::value,
                         store_mutation::put(make("o-1", 1)));
  // A crash queued right behind the append: the flush the append sends
  // itself comes after it and never runs.
  caf::anon_send_exit(doomed, caf::exit_reason::kill);
  run();
  std::optional<failure> got;
  r.receive([&](uint64_t) { CAF_FAIL("answered without a flush"); },
            [&](caf::error& err) { got = to_failure(err); });
  CAF_REQUIRE(got.has_value());
  CAF_CHECK(got->code == errc::unavailable);
  CAF_CHECK_NOT_EQUAL(got->message.find("before the change was durable"),
                      std::string::npos);
  CAF_CHECK_EQUAL(backend->stats().syncs, 0u);
}

CAF_TEST(a registry that dies while the store works fails the waiting client) {
  auto reg = spawn_registry_over_store();
  run();
  auto r = self->request(reg, caf::infinite, register_atom::value,
                         make("o-1", 6001));
  expect((register_atom, service_instance), from(self).to(reg).with(_, _));
  caf::anon_send_exit(reg, caf::exit_reason::kill);
  run();
  std::optional<failure> got;
  r.receive([&](service_instance&) { CAF_FAIL("answered by a dead registry"); },
            [&](caf::error& err) { got = to_failure(err); });
  CAF_REQUIRE(got.has_value());
  CAF_CHECK(got->code == errc::unavailable);
  CAF_CHECK_NOT_EQUAL(got->message.find("before the store confirmed"),
                      std::string::npos);
  // The store still made it durable: a new registry has it.
  auto again = spawn_registry_over_store();
  auto xs = call<std::vector<service_instance>>(again, get_atom::value,
                                                std::string{"orders"});
  CAF_REQUIRE(xs.has_value());
  CAF_CHECK_EQUAL(xs->size(), 1u);
  caf::anon_send_exit(again, caf::exit_reason::user_shutdown);
}

/// A write of another node, as a push brings it.
catalog_entry replicated(std::string id, uint64_t stamp) {
  catalog_entry e;
  e.instance = make(std::move(id), 7000);
  e.instance.node = "node-b";
  e.instance.revision = {stamp, "node-b"};
  e.instance.registered = e.instance.revision;
  return e;
}

CAF_TEST(appends nobody waits for are fsynced at the latest lazy_sync later) {
  self->send(store, append_atom::value,
             std::vector<store_mutation>{store_mutation::put(make("o-1", 1)),
                                         store_mutation::put(make("o-2", 2))});
  expect((append_atom, std::vector<store_mutation>),
         from(self).to(store).with(_, _));
  // Applied, but not fsynced until the timer: no flush in the mailbox.
  disallow((flush_atom), from(store).to(store));
  CAF_CHECK_EQUAL(backend->stats().appends, 2u);
  CAF_CHECK_EQUAL(backend->stats().syncs, 0u);
  // A second batch before the timer fires shares it.
  self->send(store, append_atom::value,
             std::vector<store_mutation>{store_mutation::put(make("o-3", 3))});
  expect((append_atom, std::vector<store_mutation>),
         from(self).to(store).with(_, _));
  disallow((flush_atom), from(store).to(store));
  CAF_CHECK_EQUAL(advance_time(49ms), 0u);
  CAF_CHECK_EQUAL(backend->stats().syncs, 0u);
  CAF_CHECK_EQUAL(advance_time(1ms), 1u);
  expect((flush_atom), from(store).to(store));
  CAF_CHECK_EQUAL(backend->stats().syncs, 1u);
  CAF_CHECK_EQUAL(backend->contents().instances.size(), 3u);
  // Nothing is left armed.
  CAF_CHECK_EQUAL(trigger_timeouts(), 0u);
}

CAF_TEST(appends nobody waits for ride with the next group) {
  self->send(store, append_atom::value,
             std::vector<store_mutation>{store_mutation::put(make("o-1", 1))});
  expect((append_atom, std::vector<store_mutation>),
         from(self).to(store).with(_, _));
  auto a = self->request(store, caf::infinite, append_atom::value,
                         store_mutation::put(make("o-2", 2)));
  expect((append_atom, store_mutation), from(self).to(store).with(_, _));
  expect((flush_atom), from(store).to(store));
  uint64_t n = 0;
  a.receive([&](uint64_t x) { n = x; },
            [&](caf::error& err) { CAF_FAIL(sys.render(err)); });
  // One fsync covered both, long before the lazy timer.
  CAF_CHECK_EQUAL(n, 2u);
  CAF_CHECK_EQUAL(backend->stats().syncs, 1u);
}

CAF_TEST(a push of other nodes reaches the store as one unanswered append) {
  auto reg = spawn_registry_over_store();
  run();
  self->send(reg, merge_atom::value,
             std::vector<catalog_entry>{replicated("o-1", 1ull << 20),
                                        replicated("o-2", 1ull << 20 | 1),
                                        replicated("o-3", 1ull << 20 | 2)});
  expect((merge_atom, std::vector<catalog_entry>),
         from(self).to(reg).with(_, _));
  expect((append_atom, std::vector<store_mutation>),
         from(reg).to(store).with(_, _));
  disallow((append_atom, store_mutation), from(reg).to(store));
  CAF_CHECK_EQUAL(backend->stats().appends, 3u);
  run();
  trigger_timeouts();
  run();
  auto c = backend->contents();
  CAF_REQUIRE_EQUAL(c.instances.size(), 3u);
  CAF_CHECK_EQUAL(c.instances[0].node, "node-b");
  CAF_CHECK_GREATER_OR_EQUAL(backend->stats().syncs, 1u);
  caf::anon_send_exit(reg, caf::exit_reason::user_shutdown);
}

CAF_TEST_FIXTURE_SCOPE_END()
