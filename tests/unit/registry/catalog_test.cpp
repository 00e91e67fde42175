#include "runtime/registry/catalog.hpp"
#include "tests/unit/registry/make_instance.hpp"

#include <gtest/gtest.h>

using namespace valmesh;
using namespace std::chrono_literals;

namespace {

using valmesh::test::make;

class catalog_test : public ::testing::Test {
 protected:
  catalog_test() : cat(clk, {"node-a", 60s, 24h, 3, {}}) {}
  manual_clock clk;
  catalog cat;
};

}  // namespace

TEST_F(catalog_test, registers_with_bookkeeping) {
  auto x = cat.upsert(make("orders", "orders-1", 6000));
  ASSERT_TRUE(x);
  EXPECT_EQ(x->status, health_status::unknown);
  EXPECT_EQ(x->node, "node-a");
  EXPECT_EQ(x->registered_at_ms, clk.unix_ms());
  EXPECT_EQ(x->create_index, 1u);
  EXPECT_EQ(x->modify_index, 1u);
  EXPECT_EQ(cat.instance_count(), 1u);
  ASSERT_NE(cat.find("orders", "orders-1"), nullptr);
}

TEST_F(catalog_test, generates_distinct_ids) {
  auto a = cat.upsert(make("orders", "", 6000));
  auto b = cat.upsert(make("orders", "", 6001));
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->id.rfind("orders-", 0), 0u);
  EXPECT_EQ(a->id.size(), std::string{"orders-"}.size() + 8);
  EXPECT_NE(a->id, b->id);
  EXPECT_EQ(cat.instance_count(), 2u);
}

TEST_F(catalog_test, reregistering_an_id_updates_it) {
  auto a = cat.upsert(make("orders", "orders-1", 6000));
  ASSERT_TRUE(cat.set_status("orders", "orders-1", health_status::passing));
  clk.advance(5s);
  auto b = cat.upsert(make("orders", "orders-1", 7000));
  ASSERT_TRUE(b);
  EXPECT_EQ(b->port, 7000);
  EXPECT_EQ(b->registered_at_ms, a->registered_at_ms);
  EXPECT_EQ(b->status, health_status::passing);  // health survives updates
  EXPECT_EQ(b->create_index, a->create_index);
  EXPECT_GT(b->modify_index, a->modify_index);
  EXPECT_EQ(cat.instance_count(), 1u);
}

TEST_F(catalog_test, removes_and_records_a_tombstone) {
  ASSERT_TRUE(cat.upsert(make("orders", "orders-1", 6000)));
  auto gone = cat.remove("orders", "orders-1");
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->id, "orders-1");
  EXPECT_EQ(cat.instance_count(), 0u);
  EXPECT_EQ(cat.instances("orders"), nullptr);  // empty services vanish
  ASSERT_EQ(cat.tombstones().size(), 1u);
  auto& t = cat.tombstones().at("orders/orders-1");
  EXPECT_EQ(t.id, "orders-1");
  EXPECT_EQ(t.index, cat.index());
  EXPECT_NE(t.revision.stamp, 0u) << "the removal has a revision of its own";
  EXPECT_EQ(gone->revision, t.revision);
  EXPECT_EQ(t.revision.origin, "node-a");
}

TEST_F(catalog_test, tombstones_are_bounded) {
  for (int i = 0; i < 5; ++i) {
    auto id = "o-" + std::to_string(i);
    ASSERT_TRUE(cat.upsert(make("orders", id, 6000)));
    ASSERT_TRUE(cat.remove("orders", id));
  }
  EXPECT_EQ(cat.tombstones().size(), 5u)
      << "bounded when forgotten, not before";
  auto forgotten = cat.forget_old_tombstones();
  ASSERT_EQ(forgotten.size(), 2u);
  EXPECT_EQ(forgotten[0].id, "o-0") << "the oldest go first";
  EXPECT_EQ(forgotten[1].id, "o-1");
  ASSERT_EQ(cat.tombstones().size(), 3u);
  EXPECT_EQ(cat.tombstones().begin()->second.id, "o-2");
}

TEST_F(catalog_test, unknown_entries_are_not_found) {
  EXPECT_EQ(cat.remove("orders", "x").error().code, errc::not_found);
  EXPECT_EQ(cat.heartbeat("orders", "x").error().code, errc::not_found);
  ASSERT_TRUE(cat.upsert(make("orders", "orders-1", 6000)));
  EXPECT_EQ(cat.remove("orders", "x").error().code, errc::not_found);
  EXPECT_EQ(cat.set_status("orders", "x", health_status::passing).error().code,
            errc::not_found);
  EXPECT_EQ(cat.instance_count(), 1u);
}

TEST_F(catalog_test, heartbeat_needs_a_lease) {
  ASSERT_TRUE(cat.upsert(make("orders", "orders-1", 6000)));
  auto r = cat.heartbeat("orders", "orders-1");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, errc::conflict);
}

TEST_F(catalog_test, lease_runs_out_then_instance_is_removed) {
  ASSERT_TRUE(cat.upsert(make("orders", "orders-1", 6000, 10'000)));
  clk.advance(9s);
  EXPECT_TRUE(cat.expire().empty());
  clk.advance(1s);
  auto changes = cat.expire();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].what, catalog_change::kind::status_changed);
  EXPECT_EQ(changes[0].instance.status, health_status::critical);
  EXPECT_EQ(changes[0].previous, health_status::unknown);
  EXPECT_TRUE(cat.expire().empty());  // reported once
  clk.advance(59s);
  EXPECT_TRUE(cat.expire().empty());
  clk.advance(1s);
  changes = cat.expire();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].what, catalog_change::kind::deregistered);
  EXPECT_EQ(cat.find("orders", "orders-1"), nullptr);
}

TEST_F(catalog_test, heartbeats_keep_a_lease_alive_and_pass) {
  ASSERT_TRUE(cat.upsert(make("orders", "orders-1", 6000, 10'000)));
  for (int i = 0; i < 5; ++i) {
    clk.advance(8s);
    auto hb = cat.heartbeat("orders", "orders-1");
    ASSERT_TRUE(hb);
    EXPECT_EQ(hb->status, health_status::passing);
    EXPECT_EQ(hb->last_heartbeat_ms, clk.unix_ms());
    EXPECT_TRUE(cat.expire().empty());
  }
}

TEST_F(catalog_test, a_heartbeat_rescues_a_critical_instance) {
  ASSERT_TRUE(cat.upsert(make("orders", "orders-1", 6000, 1'000)));
  clk.advance(2s);
  ASSERT_EQ(cat.expire().size(), 1u);
  clk.advance(30s);
  ASSERT_TRUE(cat.heartbeat("orders", "orders-1"));
  clk.advance(31s);
  // Critical again after the renewed lease, but the removal clock restarted.
  auto changes = cat.expire();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].what, catalog_change::kind::status_changed);
  EXPECT_NE(cat.find("orders", "orders-1"), nullptr);
}

TEST_F(catalog_test, a_passing_check_does_not_lift_an_expired_lease) {
  ASSERT_TRUE(cat.upsert(make("orders", "orders-1", 6000, 10'000)));
  auto r = cat.record_check("orders", "orders-1", health_status::passing, 100,
                            "HTTP 200");
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->instance.status, health_status::passing);
  clk.advance(11s);
  ASSERT_EQ(cat.expire().size(), 1u);
  EXPECT_EQ(cat.find("orders", "orders-1")->status, health_status::critical);
  // Checks keep passing: the status stays critical (no change, no write),
  // the check's output is kept, and the removal clock keeps running.
  for (int i = 0; i < 3; ++i) {
    clk.advance(10s);
    r = cat.record_check("orders", "orders-1", health_status::passing, 100,
                         "HTTP 200");
    ASSERT_TRUE(r);
    EXPECT_FALSE(*r) << "check " << i;
    EXPECT_EQ(cat.find("orders", "orders-1")->status, health_status::critical);
    EXPECT_EQ(cat.find("orders", "orders-1")->last_check_output, "HTTP 200");
    cat.expire();
  }
  clk.advance(31s);
  auto changes = cat.expire();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].what, catalog_change::kind::deregistered);
}

TEST_F(catalog_test, after_a_heartbeat_checks_count_again) {
  ASSERT_TRUE(cat.upsert(make("orders", "orders-1", 6000, 10'000)));
  clk.advance(11s);
  ASSERT_EQ(cat.expire().size(), 1u);
  ASSERT_TRUE(cat.heartbeat("orders", "orders-1"));
  EXPECT_EQ(cat.find("orders", "orders-1")->status, health_status::passing);
  auto r = cat.record_check("orders", "orders-1", health_status::critical, 100,
                            "HTTP 500");
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->instance.status, health_status::critical);
  r = cat.record_check("orders", "orders-1", health_status::passing, 100,
                       "HTTP 200");
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->instance.status, health_status::passing);
}

TEST_F(catalog_test, removal_can_be_disabled) {
  catalog keep{clk, {"node-a", 0s, 24h, 10, {}}};
  ASSERT_TRUE(keep.upsert(make("orders", "orders-1", 6000, 1'000)));
  clk.advance(1h);
  keep.expire();
  EXPECT_NE(keep.find("orders", "orders-1"), nullptr);
}

TEST_F(catalog_test, changing_the_ttl_restarts_the_lease) {
  ASSERT_TRUE(cat.upsert(make("orders", "orders-1", 6000)));
  clk.advance(1h);
  ASSERT_TRUE(cat.upsert(make("orders", "orders-1", 6000, 5'000)));
  clk.advance(4s);
  EXPECT_TRUE(cat.expire().empty());
  clk.advance(1s);
  EXPECT_EQ(cat.expire().size(), 1u);
}

TEST_F(catalog_test, summaries_count_passing_and_versions) {
  auto a = make("orders", "o-1", 6000);
  a.version = "1.0";
  auto b = make("orders", "o-2", 6001);
  b.version = "2.0";
  auto c = make("orders", "o-3", 6002);
  c.version = "1.0";
  ASSERT_TRUE(cat.upsert(a) && cat.upsert(b) && cat.upsert(c));
  ASSERT_TRUE(cat.upsert(make("users", "u-1", 7000)));
  ASSERT_TRUE(cat.set_status("orders", "o-2", health_status::passing));
  auto s = cat.summaries();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].name, "orders");
  EXPECT_EQ(s[0].instance_count, 3u);
  EXPECT_EQ(s[0].passing_count, 1u);
  EXPECT_EQ(s[0].versions, (std::vector<std::string>{"1.0", "2.0"}));
  EXPECT_EQ(s[1].name, "users");
  EXPECT_TRUE(s[1].versions.empty());
}

TEST_F(catalog_test, next_deadline_tracks_the_earliest_lease) {
  EXPECT_FALSE(cat.next_deadline());
  ASSERT_TRUE(cat.upsert(make("orders", "o-1", 6000, 5'000)));
  ASSERT_TRUE(cat.upsert(make("orders", "o-2", 6000, 2'000)));
  EXPECT_EQ(cat.next_deadline(), clk.now() + 2s);
}

TEST_F(catalog_test, a_heartbeat_with_a_status_renews_the_lease_with_it) {
  // Consul's warn of a TTL check: the lease is renewed, the status is the
  // one given, and the note is the check's output.
  ASSERT_TRUE(cat.upsert(make("orders", "orders-1", 6000, 10'000)));
  clk.advance(8s);
  auto hb = cat.heartbeat("orders", "orders-1", health_status::warning,
                          std::string{"slow disk"});
  ASSERT_TRUE(hb);
  EXPECT_EQ(hb->status, health_status::warning);
  EXPECT_EQ(hb->last_check_output, "slow disk");
  clk.advance(8s);
  EXPECT_TRUE(cat.expire().empty());  // renewed: not critical at 10s
  auto again = cat.heartbeat("orders", "orders-1", health_status::warning);
  ASSERT_TRUE(again);
  EXPECT_GT(again->modify_index, hb->modify_index);  // a write of its own
  EXPECT_EQ(again->last_check_output, "slow disk");  // no output: kept
}
