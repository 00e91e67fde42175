// The catalog as a replica: last writer wins per entry whatever the order
// of arrival, tombstones, digests and the entries behind them, and which
// node judges an instance's lease.

#include <algorithm>
#include <random>

#include <gtest/gtest.h>

#include "runtime/registry/catalog.hpp"
#include "tests/unit/registry/make_instance.hpp"

using namespace valmesh;
using namespace std::chrono_literals;

namespace {

using valmesh::test::make;

catalog_entry live(const service_instance& x) {
  return {x, false};
}

/// A replica named `node` that judges the instances registered on it.
catalog_options options_of(std::string node) {
  catalog_options o;
  o.node_name = node;
  o.judges = [node](const service_instance& x) { return x.node == node; };
  return o;
}

/// What must be equal on every replica: each live entry's fields that
/// replicate, each tombstone's revision, and the digest.
std::string state_of(const catalog& c) {
  std::string out;
  for (auto& x : c.all())
    out += x.name + "/" + x.id + " " + x.host + ":" + std::to_string(x.port) +
           " " + std::string{to_string(x.status)} + " @" +
           std::to_string(x.revision.stamp) + x.revision.origin + "\n";
  for (auto& [key, t] : c.tombstones())
    out += "- " + key + " @" + std::to_string(t.revision.stamp) +
           t.revision.origin + "\n";
  return out;
}

}  // namespace

TEST(replication, shuffled_writes_converge_on_every_replica) {
  manual_clock clk;
  std::mt19937_64 rng{42};
  // Three nodes write to a small set of ids, often the same ones; each
  // write becomes the entry a push would carry.
  std::vector<catalog> origins;
  for (auto n : {"a", "b", "c"}) origins.emplace_back(clk, options_of(n));
  std::vector<catalog_entry> pushed;
  for (int step = 0; step < 600; ++step) {
    auto& c = origins[rng() % origins.size()];
    auto id = "o-" + std::to_string(rng() % 12);
    clk.advance(std::chrono::milliseconds{rng() % 3});  // ties happen too
    switch (rng() % 4) {
      case 0:
      case 1: {
        auto r = c.upsert(make("orders", id, 6000 + rng() % 100));
        ASSERT_TRUE(r);
        pushed.push_back(live(*r));
        break;
      }
      case 2:
        if (auto r = c.remove("orders", id)) pushed.push_back(deletion_of(*r));
        break;
      default:
        if (auto r = c.set_status("orders", id, health_status::passing))
          pushed.push_back(live(*r));
        break;
    }
    // Each origin also hears some of the others' writes, as a live
    // cluster would, so later writes build on earlier ones.
    if (!pushed.empty() && rng() % 2 == 0)
      origins[rng() % origins.size()].merge(pushed[rng() % pushed.size()]);
  }
  // Five replicas get every write in their own order, some twice.
  std::vector<std::string> states;
  std::vector<catalog_digest> digests;
  for (int r = 0; r < 5; ++r) {
    catalog replica{clk, options_of("r" + std::to_string(r))};
    auto order = pushed;
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t i = 0; i < order.size(); ++i) {
      replica.merge(order[i]);
      if (i % 7 == 0) replica.merge(order[rng() % order.size()]);
    }
    states.push_back(state_of(replica));
    digests.push_back(replica.digest());
  }
  for (size_t r = 1; r < states.size(); ++r) {
    EXPECT_EQ(states[r], states[0]) << "replica " << r;
    EXPECT_EQ(digests[r], digests[0]) << "replica " << r;
  }
  // And the replicas agree with the last write to each id.
  // Writes to one instance stand in the order (registration, write); a
  // removal at its own revision in both places.
  auto order = [](const catalog_entry& e) {
    auto& x = e.instance;
    if (e.removed) return std::pair{x.revision, x.revision};
    return std::pair{x.registered, x.revision};
  };
  std::map<std::string, catalog_entry> newest;
  for (auto& e : pushed) {
    auto& slot = newest[e.instance.id];
    if (slot.instance.id.empty() || order(e) > order(slot)) slot = e;
  }
  catalog check{clk, options_of("z")};
  for (auto& e : pushed) check.merge(e);
  for (auto& [id, e] : newest) {
    auto* x = check.find("orders", id);
    if (e.removed) {
      EXPECT_EQ(x, nullptr) << id << " was last deleted";
    } else {
      ASSERT_NE(x, nullptr) << id;
      EXPECT_EQ(x->revision, e.instance.revision) << id;
      EXPECT_EQ(x->port, e.instance.port) << id;
    }
  }
}

TEST(replication, a_deletion_beats_an_older_write_that_arrives_late) {
  manual_clock clk;
  catalog a{clk, options_of("a")}, replica{clk, options_of("r")};
  auto first = a.upsert(make("orders", "o-1", 6000));
  clk.advance(1ms);
  auto gone = a.remove("orders", "o-1");
  ASSERT_TRUE(first && gone);
  EXPECT_FALSE(replica.merge(deletion_of(*gone))) << "nothing to remove yet";
  EXPECT_FALSE(replica.merge(live(*first))) << "older than the tombstone";
  EXPECT_EQ(replica.find("orders", "o-1"), nullptr);
  // A newer write does bring it back.
  clk.advance(1ms);
  auto again = a.upsert(make("orders", "o-1", 6001));
  auto c = replica.merge(live(*again));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->what, catalog_change::kind::registered);
  EXPECT_TRUE(c->replicated);
  EXPECT_TRUE(replica.tombstones().empty());
}

TEST(replication, a_status_written_after_a_removal_does_not_bring_it_back) {
  // a removes o-1; b, not yet aware, writes a health-check status for it
  // (a later revision). In whatever order they meet, o-1 stays removed.
  manual_clock clk;
  catalog a{clk, options_of("a")}, b{clk, options_of("b")};
  auto x = a.upsert(make("orders", "o-1", 6000));
  ASSERT_TRUE(x);
  ASSERT_TRUE(b.merge(live(*x)));
  clk.advance(1ms);
  auto gone = a.remove("orders", "o-1");
  ASSERT_TRUE(gone);
  clk.advance(1ms);
  auto checked = b.set_status("orders", "o-1", health_status::passing);
  ASSERT_TRUE(checked);
  ASSERT_GT(checked->revision, gone->revision) << "the status is later";
  EXPECT_FALSE(a.merge(live(*checked))) << "the removal stays on a";
  EXPECT_EQ(a.find("orders", "o-1"), nullptr);
  auto c = b.merge(deletion_of(*gone));
  ASSERT_TRUE(c) << "the removal wins on b though its status is newer";
  EXPECT_EQ(c->what, catalog_change::kind::deregistered);
  EXPECT_EQ(b.find("orders", "o-1"), nullptr);
  for (int order = 0; order < 2; ++order) {
    catalog r{clk, options_of("r")};
    r.merge(live(*x));
    if (order == 0) {
      r.merge(live(*checked));
      r.merge(deletion_of(*gone));
    } else {
      r.merge(deletion_of(*gone));
      r.merge(live(*checked));
    }
    EXPECT_EQ(r.find("orders", "o-1"), nullptr) << "order " << order;
    EXPECT_EQ(state_of(r), state_of(a)) << "order " << order;
  }
  // A registration made after the removal does bring it back.
  clk.advance(1ms);
  auto again = b.upsert(make("orders", "o-1", 6001));
  ASSERT_TRUE(again);
  EXPECT_TRUE(a.merge(live(*again)));
  ASSERT_NE(a.find("orders", "o-1"), nullptr);
  EXPECT_EQ(a.find("orders", "o-1")->port, 6001);
}

TEST(replication, a_status_of_an_old_registration_does_not_undo_a_newer_one) {
  manual_clock clk;
  catalog a{clk, options_of("a")}, b{clk, options_of("b")};
  auto x = a.upsert(make("orders", "o-1", 6000));
  ASSERT_TRUE(x);
  ASSERT_TRUE(b.merge(live(*x)));
  clk.advance(1ms);
  auto moved = a.upsert(make("orders", "o-1", 7000));  // a new port
  clk.advance(1ms);
  auto checked = b.set_status("orders", "o-1", health_status::critical);
  ASSERT_TRUE(moved && checked);
  EXPECT_FALSE(a.merge(live(*checked)));
  EXPECT_EQ(a.find("orders", "o-1")->port, 7000);
  EXPECT_TRUE(b.merge(live(*moved)));
  EXPECT_EQ(b.find("orders", "o-1")->port, 7000);
}

TEST(replication, a_write_made_after_seeing_another_wins_over_it) {
  // b's clock is behind a's: the hybrid clock still orders b's later write
  // after a's, because b saw a's first.
  manual_clock ca{1'700'000'010'000}, cb{1'700'000'000'000};
  catalog a{ca, options_of("a")}, b{cb, options_of("b")};
  auto from_a = a.upsert(make("orders", "o-1", 6000));
  ASSERT_TRUE(b.merge(live(*from_a)));
  auto from_b = b.upsert(make("orders", "o-1", 7000));
  ASSERT_TRUE(from_b);
  EXPECT_GT(from_b->revision, from_a->revision);
  auto c = a.merge(live(*from_b));
  ASSERT_TRUE(c);
  EXPECT_EQ(a.find("orders", "o-1")->port, 7000);
}

TEST(replication, of_two_writes_in_one_millisecond_the_later_wins) {
  // Two sides of a partition, one wall clock (one machine): an update on
  // "z", then a removal on "a" 300 us later, within the same millisecond.
  // The later write wins, not the greater node name.
  manual_clock clk;
  catalog a{clk, options_of("a")}, z{clk, options_of("z")};
  auto first = a.upsert(make("orders", "o-1", 6000));
  ASSERT_TRUE(z.merge(live(*first)));
  clk.advance(10ms);
  auto update = z.upsert(make("orders", "o-1", 6001));
  ASSERT_TRUE(update);
  clk.advance(300us);
  auto removal = a.remove("orders", "o-1");
  ASSERT_TRUE(removal);
  ASSERT_EQ(hybrid_clock::physical_ms(removal->revision.stamp),
            hybrid_clock::physical_ms(update->revision.stamp));
  EXPECT_GT(removal->revision, update->revision);
  EXPECT_TRUE(z.merge(deletion_of(*removal)));
  EXPECT_FALSE(a.merge(live(*update)));
  EXPECT_EQ(a.find("orders", "o-1"), nullptr);
  EXPECT_EQ(z.find("orders", "o-1"), nullptr);
}

TEST(replication, digests_find_the_entries_that_differ) {
  manual_clock clk;
  catalog a{clk, options_of("a")}, b{clk, options_of("b")};
  for (int i = 0; i < 50; ++i) {
    auto x = a.upsert(make("orders", "o-" + std::to_string(i), 6000));
    b.merge(live(*x));
  }
  EXPECT_EQ(a.digest(), b.digest());
  EXPECT_TRUE(differing_buckets(a.digest(), b.digest()).empty());
  auto gone = a.remove("orders", "o-7");
  auto changed = a.upsert(make("orders", "o-9", 6100));
  auto buckets = differing_buckets(a.digest(), b.digest());
  ASSERT_FALSE(buckets.empty());
  EXPECT_LE(buckets.size(), 2u);
  // The entries of those buckets repair b: the deletion and the update.
  for (auto& e : a.entries_in(buckets)) b.merge(e);
  EXPECT_EQ(a.digest(), b.digest());
  EXPECT_EQ(b.find("orders", "o-7"), nullptr);
  EXPECT_EQ(b.find("orders", "o-9")->port, 6100);
  EXPECT_EQ(b.find("orders", "o-9")->revision, changed->revision);
  (void)gone;
}

TEST(replication, only_the_judge_expires_a_lease) {
  manual_clock clk;
  catalog owner{clk, options_of("a")}, other{clk, options_of("b")};
  auto x = owner.upsert(make("orders", "o-1", 6000, 10'000));
  ASSERT_TRUE(other.merge(live(*x)));
  clk.advance(11s);
  EXPECT_TRUE(other.expire().empty()) << "b does not judge a's instance";
  auto changes = owner.expire();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].instance.status, health_status::critical);
  // The owner's verdict reaches b as a write.
  auto c = other.merge(live(changes[0].instance));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->what, catalog_change::kind::status_changed);
  EXPECT_EQ(other.find("orders", "o-1")->status, health_status::critical);
}

TEST(replication, a_heartbeat_on_another_node_renews_the_judges_lease) {
  manual_clock clk;
  catalog owner{clk, options_of("a")}, other{clk, options_of("b")};
  auto x = owner.upsert(make("orders", "o-1", 6000, 10'000));
  ASSERT_TRUE(other.merge(live(*x)));
  for (int i = 0; i < 3; ++i) {
    clk.advance(8s);
    auto beat = other.heartbeat("orders", "o-1");
    ASSERT_TRUE(beat);
    auto c = owner.merge(live(*beat));
    ASSERT_TRUE(c);
    EXPECT_TRUE(owner.expire().empty()) << "renewed through b, round " << i;
  }
  EXPECT_EQ(owner.find("orders", "o-1")->status, health_status::passing);
  // A renewal that changes nothing else is only that.
  clk.advance(1s);
  auto beat = other.heartbeat("orders", "o-1");
  auto c = owner.merge(live(*beat));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->what, catalog_change::kind::renewed);
}

TEST(replication, tombstones_are_forgotten_after_their_time) {
  manual_clock clk;
  auto o = options_of("a");
  o.tombstone_ttl = 1h;
  catalog a{clk, o};
  ASSERT_TRUE(a.upsert(make("orders", "o-1", 6000)));
  ASSERT_TRUE(a.remove("orders", "o-1"));
  clk.advance(59min);
  EXPECT_TRUE(a.forget_old_tombstones().empty());
  clk.advance(2min);
  auto gone = a.forget_old_tombstones();
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].id, "o-1");
  EXPECT_TRUE(a.tombstones().empty());
}

TEST(replication, a_restart_keeps_what_other_judges_wrote) {
  manual_clock clk;
  catalog owner{clk, options_of("a")}, restarted{clk, options_of("b")};
  auto x = owner.upsert(make("orders", "o-1", 6000));
  auto y = owner.set_status("orders", "o-1", health_status::passing);
  ASSERT_TRUE(x && y);
  auto mine = make("users", "u-1", 7000);
  mine.node = "b";
  mine.status = health_status::passing;
  restarted.restore(*y);    // judged by a: keeps passing
  restarted.restore(mine);  // judged here: unknown until checked again
  EXPECT_EQ(restarted.find("orders", "o-1")->status, health_status::passing);
  EXPECT_EQ(restarted.find("users", "u-1")->status, health_status::unknown);
  EXPECT_FALSE(restarted.merge(live(*y))) << "already as new";
  EXPECT_GE(restarted.hlc().last(), y->revision.stamp);
}

TEST(replication, a_write_the_api_would_refuse_is_ignored) {
  // Found by tests/fuzz/cluster_message_fuzz: a peer's entry with a TTL of
  // 2^55 ms overflowed the lease's deadline (undefined behaviour).
  manual_clock clk;
  catalog a{clk, options_of("a")}, replica{clk, options_of("r")};
  auto x = a.upsert(make("orders", "o-1", 6000));
  ASSERT_TRUE(x);
  auto bad_ttl = *x;
  bad_ttl.ttl_ms = int64_t{1} << 55;
  EXPECT_FALSE(replica.merge(live(bad_ttl)));
  auto bad_status = *x;
  bad_status.status = static_cast<health_status>(7);
  EXPECT_FALSE(replica.merge(live(bad_status)));
  auto bad_port = *x;
  bad_port.port = 0;
  EXPECT_FALSE(replica.merge(live(bad_port)));
  auto bad_name = *x;
  bad_name.name = "not a name";
  EXPECT_FALSE(replica.merge(live(bad_name)));
  EXPECT_TRUE(replica.all().empty());
  // The same write within the rules is taken.
  EXPECT_TRUE(replica.merge(live(*x)));
  EXPECT_NE(replica.find("orders", "o-1"), nullptr);
}
