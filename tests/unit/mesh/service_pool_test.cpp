#include "runtime/mesh/service_pool.hpp"

#include <map>

#include <gtest/gtest.h>

using namespace valmesh;
using namespace std::chrono_literals;

namespace {

service_instance instance(const std::string& id,
                          health_status s = health_status::passing,
                          uint16_t port = 9000) {
  service_instance x;
  x.id = id;
  x.name = "svc";
  x.host = "127.0.0.1";
  x.port = port;
  x.status = s;
  return x;
}

service_pool pool_of(std::initializer_list<service_instance> xs,
                     bulkhead_options o = {2, 1, 1s},
                     lb_strategy s = lb_strategy::round_robin) {
  service_pool p{o, s, 42};
  for (auto& x : xs) p.upsert(x);
  return p;
}

using kind = service_pool::decision::kind;

}  // namespace

TEST(service_pool, grants_permits_then_queues_then_rejects) {
  manual_clock clk;
  auto p = pool_of({instance("a"), instance("b")});
  auto d1 = p.acquire(1, {}, clk.now());
  auto d2 = p.acquire(2, {}, clk.now());
  ASSERT_EQ(d1.what, kind::granted);
  ASSERT_EQ(d2.what, kind::granted);
  EXPECT_NE(d1.grant->id, d2.grant->id) << "round-robin";
  EXPECT_EQ(p.acquire(3, {}, clk.now()).what, kind::queued);
  auto full = p.acquire(4, {}, clk.now());
  ASSERT_EQ(full.what, kind::failed);
  EXPECT_EQ(full.error->code, errc::bulkhead_full);
  // A release hands the permit to the waiter, with an instance.
  auto h = p.release(d1.grant->id, d1.grant->generation, false);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].first, 3u);
  ASSERT_TRUE(h[0].second);
  EXPECT_EQ(p.in_flight(), 2u);
  EXPECT_EQ(p.queued(), 0u);
}

TEST(service_pool, queued_calls_time_out) {
  manual_clock clk;
  auto p = pool_of({instance("a")}, {1, 2, 100ms});
  p.acquire(1, {}, clk.now());
  p.acquire(2, {}, clk.now());
  EXPECT_EQ(p.next_timeout(), clk.now() + 100ms);
  clk.advance(99ms);
  EXPECT_TRUE(p.expire(clk.now()).empty());
  clk.advance(1ms);
  auto out = p.expire(clk.now());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].first, 2u);
  EXPECT_EQ(out[0].second.error().code, errc::bulkhead_full);
  EXPECT_FALSE(p.next_timeout());
}

TEST(service_pool, only_healthy_instances_are_chosen) {
  manual_clock clk;
  auto p = pool_of({instance("a", health_status::critical),
                    instance("b", health_status::warning),
                    instance("c", health_status::unknown)},
                   {100, 0, 1s});
  for (uint64_t t = 1; t <= 5; ++t) {
    auto d = p.acquire(t, {}, clk.now());
    ASSERT_EQ(d.what, kind::granted);
    EXPECT_EQ(d.grant->id, "b");
  }
  p.set_status("b", health_status::critical);
  // Nothing healthy and nothing unchecked either? "c" is unchecked: used.
  auto d = p.acquire(9, {}, clk.now());
  ASSERT_EQ(d.what, kind::granted);
  EXPECT_EQ(d.grant->id, "c");
  p.set_status("c", health_status::critical);
  auto none = p.acquire(10, {}, clk.now());
  ASSERT_EQ(none.what, kind::failed);
  EXPECT_EQ(none.error->code, errc::no_healthy_instance);
  EXPECT_EQ(p.in_flight(), 6u) << "a failed choice gives its permit back";
}

TEST(service_pool, open_breakers_are_skipped_and_all_open_is_circuit_open) {
  manual_clock clk;
  auto p = pool_of({instance("a"), instance("b")}, {100, 0, 1s});
  p.set_breaker("a", breaker_state::open, 1, 0);
  for (uint64_t t = 1; t <= 4; ++t)
    EXPECT_EQ(p.acquire(t, {}, clk.now()).grant->id, "b");
  p.set_breaker("b", breaker_state::open, 1, 0);
  auto d = p.acquire(5, {}, clk.now());
  ASSERT_EQ(d.what, kind::failed);
  EXPECT_EQ(d.error->code, errc::circuit_open);
  // A stale push (older generation) changes nothing.
  p.set_breaker("a", breaker_state::closed, 0, 0);
  EXPECT_EQ(p.acquire(6, {}, clk.now()).what, kind::failed);
}

TEST(service_pool, half_open_grants_its_trials_and_unused_ones_come_back) {
  manual_clock clk;
  auto p = pool_of({instance("a")}, {100, 0, 1s});
  p.set_breaker("a", breaker_state::half_open, 7, 2);
  auto t1 = p.acquire(1, {}, clk.now());
  auto t2 = p.acquire(2, {}, clk.now());
  ASSERT_EQ(t1.what, kind::granted);
  ASSERT_EQ(t2.what, kind::granted);
  EXPECT_EQ(t1.grant->generation, 7u);
  EXPECT_EQ(p.acquire(3, {}, clk.now()).error->code, errc::circuit_open);
  p.release("a", 7, true);  // never sent: the trial comes back
  EXPECT_EQ(p.acquire(4, {}, clk.now()).what, kind::granted);
  p.release("a", 7, false);  // sent: it is the breaker's to judge
  EXPECT_EQ(p.acquire(5, {}, clk.now()).what, kind::failed);
}

TEST(service_pool, retries_avoid_instances_already_tried_unless_none_is_left) {
  manual_clock clk;
  auto p = pool_of({instance("a"), instance("b"), instance("c")}, {100, 0, 1s});
  for (uint64_t t = 1; t <= 6; ++t) {
    auto d = p.acquire(t, {"a", "b"}, clk.now());
    EXPECT_EQ(d.grant->id, "c");
  }
  auto d = p.acquire(7, {"a", "b", "c"}, clk.now());
  ASSERT_EQ(d.what, kind::granted) << "better a tried instance than none";
}

TEST(service_pool, least_connections_counts_the_calls_in_flight) {
  manual_clock clk;
  auto p = pool_of({instance("a"), instance("b")}, {100, 0, 1s},
                   lb_strategy::least_connections);
  auto first = p.acquire(1, {}, clk.now());
  auto second = p.acquire(2, {}, clk.now());
  EXPECT_NE(first.grant->id, second.grant->id);
  // "a" finishes; "b" still busy: the next two calls go to "a" then tie.
  auto busy = second.grant->id;
  p.release(first.grant->id, 0, false);
  auto third = p.acquire(3, {}, clk.now());
  EXPECT_NE(third.grant->id, busy);
  std::map<std::string, uint32_t> in_flight;
  for (auto& m : p.members()) in_flight[m.id] = m.in_flight;
  EXPECT_EQ(in_flight["a"], 1u);
  EXPECT_EQ(in_flight["b"], 1u);
}

TEST(service_pool, a_restarted_breaker_resets_the_mirror_and_removal_forgets) {
  manual_clock clk;
  auto p = pool_of({instance("a")}, {100, 0, 1s});
  p.set_breaker("a", breaker_state::open, 5, 0);
  p.upsert(instance("a"), 1ull << 32);  // the new incarnation: closed
  EXPECT_EQ(p.acquire(1, {}, clk.now()).what, kind::granted);
  p.remove("a");
  EXPECT_EQ(p.acquire(2, {}, clk.now()).error->code, errc::no_healthy_instance);
  EXPECT_TRUE(p.members().empty());
}

TEST(service_pool, removal_keeps_the_others_in_order_and_findable) {
  manual_clock clk;
  service_pool p{{100, 0, 1s}, lb_strategy::round_robin, 42};
  for (int i = 0; i < 1000; ++i)
    p.upsert(instance("i-" + std::to_string(i), health_status::critical));
  p.remove("i-500");
  p.remove("i-0");
  p.remove("i-absent");
  ASSERT_EQ(p.members().size(), 998u);
  EXPECT_EQ(p.members().front().id, "i-1");
  EXPECT_EQ(p.members()[498].id, "i-499");
  EXPECT_EQ(p.members()[499].id, "i-501");
  EXPECT_EQ(p.members().back().id, "i-999");
  // Changes after the removals reach the member they name, and only it.
  p.set_status("i-999", health_status::passing);
  p.set_status("i-500", health_status::passing);  // gone: nothing happens
  for (uint64_t t = 1; t <= 3; ++t) {
    auto d = p.acquire(t, {}, clk.now());
    ASSERT_EQ(d.what, kind::granted);
    EXPECT_EQ(d.grant->id, "i-999");
    p.release(d.grant->id, d.grant->generation, false);
  }
  p.upsert(instance("i-500"));  // back, at the end, passing
  EXPECT_EQ(p.members().back().id, "i-500");
  EXPECT_EQ(p.members().back().status, health_status::passing);
}
