#include "runtime/cluster/membership.hpp"

#include <algorithm>
#include <set>

#include <gtest/gtest.h>

using namespace valmesh;
using namespace std::chrono_literals;

namespace {

using kind = member_event::kind;
constexpr auto alive = member_status::alive;
constexpr auto suspect = member_status::suspect;
constexpr auto dead = member_status::dead;
constexpr auto left = member_status::left;

member node(std::string name, uint64_t incarnation,
            member_status status = alive, int port = 7946) {
  member m;
  m.cluster_addr = name + ":" + std::to_string(port);
  m.http_addr = name + ":" + std::to_string(port + 1000);
  m.version = "0.1.0";
  m.name = std::move(name);
  m.incarnation = incarnation;
  m.status = status;
  return m;
}

class membership_test : public ::testing::Test {
 protected:
  /// Adds alive members called `prefix`0, `prefix`1, ... at incarnation 1.
  void add_peers(membership& m, size_t n, const std::string& prefix = "peer-") {
    for (size_t i = 0; i < n; ++i) {
      auto name = prefix + (i < 10 ? "0" : "") + std::to_string(i);
      ASSERT_TRUE(m.merge(node(name, 1)));
    }
  }

  manual_clock clk;
  membership ms{clk, {}, node("node-a", 1)};
};

}  // namespace

// -- names --------------------------------------------------------------------

TEST(membership_names_test, statuses_round_trip) {
  for (auto s : {alive, suspect, dead, left})
    EXPECT_EQ(parse_member_status(to_string(s)), s);
  EXPECT_EQ(to_string(suspect), "suspect");
  EXPECT_EQ(parse_member_status("Alive"), std::nullopt);
  EXPECT_EQ(parse_member_status(""), std::nullopt);
}

TEST(membership_names_test, events_have_their_names) {
  EXPECT_EQ(event_name(kind::joined), "member_joined");
  EXPECT_EQ(event_name(kind::suspect), "member_suspect");
  EXPECT_EQ(event_name(kind::alive), "member_alive");
  EXPECT_EQ(event_name(kind::dead), "member_dead");
  EXPECT_EQ(event_name(kind::left), "member_left");
  EXPECT_EQ(event_name(kind::refuted), "member_refuted");
}

// -- the view -----------------------------------------------------------------

TEST_F(membership_test, starts_with_itself_alive) {
  membership m{clk, {}, node("node-a", 4, dead)};
  EXPECT_EQ(m.self().name, "node-a");
  EXPECT_EQ(m.self().status, alive);  // whatever the caller passed
  EXPECT_EQ(m.self().incarnation, 4u);
  EXPECT_EQ(m.members().size(), 1u);
  EXPECT_TRUE(m.peers().empty());
  EXPECT_EQ(m.alive_names(), std::vector<std::string>{"node-a"});
}

TEST_F(membership_test, lists_peers_and_alive_names_by_name) {
  ASSERT_TRUE(ms.merge(node("node-d", 1)));
  ASSERT_TRUE(ms.merge(node("node-b", 1)));
  ASSERT_TRUE(ms.merge(node("node-c", 1, suspect)));
  ASSERT_FALSE(ms.merge(node("node-e", 1, dead)));
  ASSERT_FALSE(ms.merge(node("node-0", 1, left)));
  EXPECT_EQ(ms.peers(),
            (std::vector<std::string>{"node-b", "node-c", "node-d"}));
  EXPECT_EQ(ms.alive_names(),
            (std::vector<std::string>{"node-a", "node-b", "node-d"}));
  EXPECT_EQ(ms.count(alive), 3u);
  EXPECT_EQ(ms.count(suspect), 1u);
  EXPECT_EQ(ms.count(dead), 1u);
  EXPECT_EQ(ms.count(left), 1u);
  EXPECT_EQ(ms.members().size(), 6u);
  ASSERT_NE(ms.find("node-e"), nullptr);
  EXPECT_EQ(ms.find("node-x"), nullptr);
}

TEST_F(membership_test, new_members_join_with_the_rumoured_status) {
  auto rumour = node("node-b", 3);
  rumour.last_seen_ms = 12345;  // another node's observation, not ours
  auto e = ms.merge(rumour);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->what, kind::joined);
  EXPECT_EQ(e->subject.name, "node-b");
  EXPECT_EQ(e->subject.incarnation, 3u);
  EXPECT_EQ(e->subject.last_seen_ms, 0);
  EXPECT_EQ(ms.find("node-b")->last_seen_ms, 0);

  e = ms.merge(node("node-c", 1, suspect));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->what, kind::joined);
  EXPECT_EQ(ms.find("node-c")->status, suspect);
}

TEST_F(membership_test, unknown_dead_or_left_members_are_kept_as_tombstones) {
  EXPECT_FALSE(ms.merge(node("node-b", 4, dead)));
  EXPECT_FALSE(ms.merge(node("node-c", 2, left)));
  ASSERT_NE(ms.find("node-b"), nullptr);
  EXPECT_EQ(ms.find("node-b")->status, dead);
  EXPECT_EQ(ms.find("node-c")->status, left);
  EXPECT_TRUE(ms.peers().empty());
  // The tombstone blocks what is older than it.
  EXPECT_FALSE(ms.merge(node("node-b", 3)));
  EXPECT_FALSE(ms.merge(node("node-b", 4)));
  EXPECT_EQ(ms.find("node-b")->status, dead);
}

TEST_F(membership_test, ignores_rumours_without_a_name) {
  EXPECT_FALSE(ms.merge(node("", 1)));
  EXPECT_EQ(ms.members().size(), 1u);
}

// -- precedence ---------------------------------------------------------------

TEST(membership_precedence_test, at_one_incarnation_the_later_state_wins) {
  struct row {
    member_status known;
    member_status rumoured;
    bool wins;
    kind what;  // the event when it wins
  };
  const row table[] = {
      {alive, alive, false, {}},         {alive, suspect, true, kind::suspect},
      {alive, dead, true, kind::dead},   {alive, left, true, kind::left},
      {suspect, alive, false, {}},       {suspect, suspect, false, {}},
      {suspect, dead, true, kind::dead}, {suspect, left, true, kind::left},
      {dead, alive, false, {}},          {dead, suspect, false, {}},
      {dead, dead, false, {}},           {dead, left, true, kind::left},
      {left, alive, false, {}},          {left, suspect, false, {}},
      {left, dead, false, {}},           {left, left, false, {}},
  };
  manual_clock clk;
  for (const auto& r : table) {
    SCOPED_TRACE(std::string{to_string(r.known)} + " <- " +
                 std::string{to_string(r.rumoured)});
    membership m{clk, {}, node("node-a", 1)};
    m.merge(node("node-b", 5, r.known));
    ASSERT_EQ(m.find("node-b")->status, r.known);
    auto e = m.merge(node("node-b", 5, r.rumoured));
    ASSERT_EQ(e.has_value(), r.wins);
    if (r.wins) {
      EXPECT_EQ(e->what, r.what);
      EXPECT_EQ(e->subject.status, r.rumoured);
    }
    EXPECT_EQ(m.find("node-b")->status, r.wins ? r.rumoured : r.known);
    EXPECT_EQ(m.find("node-b")->incarnation, 5u);
  }
}

TEST(membership_precedence_test, a_higher_incarnation_always_wins) {
  struct row {
    member_status known;
    member_status rumoured;
    kind what;
  };
  const row table[] = {
      {alive, alive, kind::alive},   {alive, suspect, kind::suspect},
      {alive, dead, kind::dead},     {alive, left, kind::left},
      {suspect, alive, kind::alive}, {suspect, suspect, kind::suspect},
      {suspect, dead, kind::dead},   {suspect, left, kind::left},
      {dead, alive, kind::joined},   {dead, suspect, kind::joined},
      {dead, dead, kind::dead},      {dead, left, kind::left},
      {left, alive, kind::joined},   {left, suspect, kind::joined},
      {left, dead, kind::dead},      {left, left, kind::left},
  };
  manual_clock clk;
  for (const auto& r : table) {
    SCOPED_TRACE(std::string{to_string(r.known)} + " <- " +
                 std::string{to_string(r.rumoured)});
    membership m{clk, {}, node("node-a", 1)};
    m.merge(node("node-b", 5, r.known));
    auto e = m.merge(node("node-b", 6, r.rumoured));
    ASSERT_TRUE(e);
    EXPECT_EQ(e->what, r.what);
    EXPECT_EQ(e->subject.incarnation, 6u);
    EXPECT_EQ(m.find("node-b")->status, r.rumoured);
    EXPECT_EQ(m.find("node-b")->incarnation, 6u);
  }
}

TEST(membership_precedence_test, a_lower_incarnation_never_wins) {
  manual_clock clk;
  for (auto known : {alive, suspect, dead, left}) {
    for (auto rumoured : {alive, suspect, dead, left}) {
      SCOPED_TRACE(std::string{to_string(known)} + " <- " +
                   std::string{to_string(rumoured)});
      membership m{clk, {}, node("node-a", 1)};
      m.merge(node("node-b", 5, known));
      EXPECT_FALSE(m.merge(node("node-b", 4, rumoured, 9999)));
      EXPECT_EQ(*m.find("node-b"), node("node-b", 5, known));
    }
  }
}

TEST_F(membership_test, a_tombstone_keeps_the_highest_incarnation_it_heard) {
  ASSERT_TRUE(ms.merge(node("node-b", 1)));
  ASSERT_TRUE(ms.merge(node("node-b", 1, dead)));
  auto e = ms.merge(node("node-b", 10, dead));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->what, kind::dead);
  EXPECT_EQ(ms.find("node-b")->incarnation, 10u);
  // So a delayed alive from before the death at 10 cannot resurrect it.
  EXPECT_FALSE(ms.merge(node("node-b", 2)));
  EXPECT_EQ(ms.find("node-b")->status, dead);
}

// -- refutation ---------------------------------------------------------------

TEST_F(membership_test, refutes_a_suspicion_of_itself) {
  auto e = ms.merge(node("node-a", 1, suspect, 1111));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->what, kind::refuted);
  EXPECT_EQ(e->subject.incarnation, 2u);
  EXPECT_EQ(e->subject.status, alive);
  EXPECT_EQ(e->subject.cluster_addr, "node-a:7946");  // never from a rumour
  EXPECT_EQ(ms.self(), e->subject);
  EXPECT_EQ(ms.local_health(), 1u);  // Lifeguard: maybe we are the slow one
}

TEST_F(membership_test, refutes_a_burial_past_the_rumoured_incarnation) {
  auto e = ms.merge(node("node-a", 7, dead));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->what, kind::refuted);
  EXPECT_EQ(ms.self().incarnation, 8u);
  EXPECT_EQ(ms.self().status, alive);
  // A `left` this node never said is refuted like a death.
  e = ms.merge(node("node-a", 8, left));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->what, kind::refuted);
  EXPECT_EQ(ms.self().incarnation, 9u);
  EXPECT_EQ(ms.self().status, alive);
  EXPECT_EQ(ms.local_health(), 2u);
}

TEST_F(membership_test, ignores_accusations_older_than_itself) {
  ASSERT_TRUE(ms.merge(node("node-a", 4, suspect)));
  ASSERT_EQ(ms.self().incarnation, 5u);
  EXPECT_FALSE(ms.merge(node("node-a", 4, suspect)));
  EXPECT_FALSE(ms.merge(node("node-a", 3, dead)));
  EXPECT_FALSE(ms.merge(node("node-a", 5)));  // alive at its own: no news
  EXPECT_EQ(ms.self().incarnation, 5u);
  EXPECT_EQ(ms.self().status, alive);
  EXPECT_EQ(ms.local_health(), 1u);
}

TEST_F(membership_test, raises_itself_above_an_alive_rumour_ahead_of_it) {
  auto e = ms.merge(node("node-a", 9));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->what, kind::refuted);
  EXPECT_EQ(ms.self().incarnation, 10u);
}

// hashicorp/memberlist#311: during a mass restart a node came back at a low
// incarnation while the others still held an accusation at a higher one, and
// stayed dead in their views. Here the accusation reaches the node (in a
// push-pull), it refutes it past the accusation, and no stale rumour can
// bury it again.
TEST_F(membership_test, a_stale_accusation_never_buries_a_refuted_member) {
  membership b{clk, {}, node("node-b", 1)};
  ASSERT_FALSE(ms.merge(node("node-b", 100, dead)));  // held from before
  EXPECT_FALSE(ms.merge(b.self()));  // its fresh alive at 1 loses

  auto refuted = b.merge(*ms.find("node-b"));
  ASSERT_TRUE(refuted);
  EXPECT_EQ(refuted->what, kind::refuted);
  EXPECT_EQ(refuted->subject.incarnation, 101u);

  auto e = ms.merge(refuted->subject);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->what, kind::joined);
  EXPECT_EQ(ms.find("node-b")->status, alive);
  EXPECT_EQ(ms.find("node-b")->incarnation, 101u);

  // Delayed copies of the old accusations arrive afterwards.
  EXPECT_FALSE(ms.merge(node("node-b", 100, dead)));
  EXPECT_FALSE(ms.merge(node("node-b", 100, suspect)));
  EXPECT_FALSE(ms.merge(node("node-b", 100, left)));
  EXPECT_EQ(ms.find("node-b")->status, alive);
  EXPECT_EQ(ms.peers(), std::vector<std::string>{"node-b"});
  // And b itself shrugs them off too.
  EXPECT_FALSE(b.merge(node("node-b", 100, dead)));
  EXPECT_EQ(b.self().incarnation, 101u);
}

// -- suspicion ----------------------------------------------------------------

TEST_F(membership_test, a_failed_probe_makes_an_alive_member_suspect) {
  add_peers(ms, 2);
  auto e = ms.probe_failed("peer-00");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->what, kind::suspect);
  EXPECT_EQ(e->subject.incarnation, 1u);  // at its current incarnation
  EXPECT_EQ(ms.find("peer-00")->status, suspect);
  EXPECT_FALSE(ms.probe_failed("peer-00"));  // already suspect
  EXPECT_FALSE(ms.probe_failed("node-a"));   // never self
  EXPECT_FALSE(ms.probe_failed("nobody"));
  EXPECT_EQ(ms.self().status, alive);
}

TEST_F(membership_test, a_suspect_turns_dead_when_its_suspicion_times_out) {
  add_peers(ms, 2);
  ASSERT_EQ(ms.suspicion_timeout(), 1000ms);  // 2 x 500ms x 1 for 3 members
  ASSERT_TRUE(ms.probe_failed("peer-00"));
  clk.advance(999ms);
  EXPECT_TRUE(ms.tick().empty());
  EXPECT_EQ(ms.find("peer-00")->status, suspect);
  clk.advance(1ms);
  auto events = ms.tick();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].what, kind::dead);
  EXPECT_EQ(events[0].subject.name, "peer-00");
  EXPECT_EQ(events[0].subject.status, dead);
  EXPECT_EQ(ms.find("peer-00")->status, dead);
  EXPECT_EQ(ms.find("peer-01")->status, alive);
  EXPECT_TRUE(ms.tick().empty());  // reported once
}

TEST_F(membership_test, a_refutation_ends_the_suspicion) {
  add_peers(ms, 2);
  ASSERT_TRUE(ms.probe_failed("peer-00"));
  clk.advance(500ms);
  auto e = ms.merge(node("peer-00", 2));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->what, kind::alive);
  clk.advance(1s);
  EXPECT_TRUE(ms.tick().empty());
  EXPECT_EQ(ms.find("peer-00")->status, alive);
}

TEST_F(membership_test, a_rumoured_suspicion_times_out_from_when_it_came) {
  add_peers(ms, 2);
  clk.advance(10min);  // long after peer-00 joined
  auto e = ms.merge(node("peer-00", 1, suspect));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->what, kind::suspect);
  clk.advance(999ms);
  EXPECT_TRUE(ms.tick().empty());
  EXPECT_EQ(ms.find("peer-00")->status, suspect);
  clk.advance(1ms);
  ASSERT_EQ(ms.tick().size(), 1u);
  EXPECT_EQ(ms.find("peer-00")->status, dead);
}

TEST_F(membership_test, hearing_from_a_suspect_does_not_clear_it) {
  add_peers(ms, 1);
  clk.advance(1234ms);
  ms.heard_from("peer-00");
  EXPECT_EQ(ms.find("peer-00")->last_seen_ms, clk.unix_ms());
  ASSERT_TRUE(ms.probe_failed("peer-00"));
  clk.advance(10ms);
  ms.heard_from("peer-00");
  EXPECT_EQ(ms.find("peer-00")->last_seen_ms, clk.unix_ms());
  EXPECT_EQ(ms.find("peer-00")->status, suspect);
  ms.heard_from("nobody");  // unknown: nothing to record
  EXPECT_EQ(ms.find("nobody"), nullptr);
  // A rumour never overwrites the local sighting.
  auto seen = clk.unix_ms();
  auto rumour = node("peer-00", 2);
  rumour.last_seen_ms = 1;
  ASSERT_TRUE(ms.merge(rumour));
  EXPECT_EQ(ms.find("peer-00")->last_seen_ms, seen);
}

TEST_F(membership_test, the_suspicion_timeout_grows_with_log10_of_the_size) {
  add_peers(ms, 9);  // 10 members: log10 = 1
  EXPECT_EQ(ms.suspicion_timeout(), 1000ms);
  add_peers(ms, 10, "more-");                 // 20 members
  EXPECT_EQ(ms.suspicion_timeout(), 1301ms);  // 1000 x log10(20) = 1301.03
  // Suspects count, the dead do not.
  ASSERT_TRUE(ms.probe_failed("peer-00"));
  EXPECT_EQ(ms.suspicion_timeout(), 1301ms);
  ASSERT_TRUE(ms.merge(node("peer-01", 1, dead)));
  EXPECT_EQ(ms.suspicion_timeout(), 1278ms);  // 1000 x log10(19) = 1278.75
  ASSERT_TRUE(ms.merge(node("peer-01", 2)));  // back

  clk.advance(1300ms);
  EXPECT_TRUE(ms.tick().empty());
  EXPECT_EQ(ms.find("peer-00")->status, suspect);
  clk.advance(1ms);
  ASSERT_EQ(ms.tick().size(), 1u);
  EXPECT_EQ(ms.find("peer-00")->status, dead);
}

// -- local health -------------------------------------------------------------

TEST_F(membership_test, local_health_stretches_the_timeouts) {
  add_peers(ms, 2);
  EXPECT_EQ(ms.local_health(), 0u);
  EXPECT_EQ(ms.probe_timeout(), 200ms);
  ms.ack_missed();
  ms.ack_missed();
  EXPECT_EQ(ms.local_health(), 2u);
  EXPECT_EQ(ms.probe_timeout(), 600ms);
  EXPECT_EQ(ms.suspicion_timeout(), 3000ms);
  ms.probe_succeeded();
  EXPECT_EQ(ms.local_health(), 1u);
  EXPECT_EQ(ms.probe_timeout(), 400ms);
}

TEST_F(membership_test, a_nack_takes_back_the_missed_ack) {
  add_peers(ms, 2);
  ms.ack_missed();
  ASSERT_EQ(ms.local_health(), 1u);
  // Another member could not reach the target either: not this node's fault.
  ms.nack_heard();
  EXPECT_EQ(ms.local_health(), 0u);
  EXPECT_EQ(ms.probe_timeout(), 200ms);
  ms.nack_heard();  // never below zero
  EXPECT_EQ(ms.local_health(), 0u);
}

TEST_F(membership_test, local_health_stays_within_its_bounds) {
  for (int i = 0; i < 20; ++i) ms.ack_missed();
  EXPECT_EQ(ms.local_health(), 8u);
  EXPECT_EQ(ms.probe_timeout(), 1800ms);
  for (int i = 0; i < 20; ++i) ms.probe_succeeded();
  EXPECT_EQ(ms.local_health(), 0u);
  EXPECT_EQ(ms.probe_timeout(), 200ms);
}

TEST_F(membership_test, only_a_timer_late_by_half_an_interval_counts) {
  ms.timer_fired(0ms);
  ms.timer_fired(250ms);  // half of the 500ms interval: still on time
  EXPECT_EQ(ms.local_health(), 0u);
  ms.timer_fired(251ms);
  EXPECT_EQ(ms.local_health(), 1u);
}

TEST_F(membership_test, a_starved_node_waits_longer_before_it_buries) {
  membership healthy{clk, {}, node("node-a", 1)};
  membership starved{clk, {}, node("node-a", 1)};
  add_peers(healthy, 2);
  add_peers(starved, 2);
  for (int i = 0; i < 3; ++i) starved.timer_fired(2s);  // CPU-starved
  ASSERT_EQ(starved.local_health(), 3u);

  ASSERT_TRUE(healthy.probe_failed("peer-00"));
  ASSERT_TRUE(starved.probe_failed("peer-00"));
  clk.advance(1s);
  EXPECT_EQ(healthy.tick().size(), 1u);
  EXPECT_EQ(healthy.find("peer-00")->status, dead);
  EXPECT_TRUE(starved.tick().empty());
  clk.advance(2999ms);
  EXPECT_TRUE(starved.tick().empty());
  EXPECT_EQ(starved.find("peer-00")->status, suspect);
  clk.advance(1ms);  // 4s: 1s x (3 + 1)
  EXPECT_EQ(starved.tick().size(), 1u);
  EXPECT_EQ(starved.find("peer-00")->status, dead);

  // Answered probes bring it back to the healthy pace.
  for (int i = 0; i < 3; ++i) starved.probe_succeeded();
  EXPECT_EQ(starved.local_health(), 0u);
  ASSERT_TRUE(starved.probe_failed("peer-01"));
  clk.advance(1s);
  EXPECT_EQ(starved.tick().size(), 1u);
  EXPECT_EQ(starved.find("peer-01")->status, dead);
}

// -- leaving and tombstones ---------------------------------------------------

TEST_F(membership_test, leaving_raises_the_incarnation) {
  auto me = ms.leave();
  EXPECT_EQ(me.status, left);
  EXPECT_EQ(me.incarnation, 2u);
  EXPECT_EQ(ms.self(), me);
  EXPECT_TRUE(ms.alive_names().empty());
  // What others say of it no longer matters.
  EXPECT_FALSE(ms.merge(node("node-a", 1, dead)));
  EXPECT_FALSE(ms.merge(node("node-a", 2, dead)));
  EXPECT_FALSE(ms.merge(node("node-a", 2, suspect)));
  EXPECT_EQ(ms.self(), me);
  // It never forgets itself.
  clk.advance(2h);
  EXPECT_TRUE(ms.tick().empty());
  EXPECT_EQ(ms.self(), me);
}

TEST_F(membership_test, a_left_member_is_not_buried_by_an_old_rumour) {
  membership b{clk, {}, node("node-b", 1)};
  ASSERT_TRUE(ms.merge(b.self()));
  auto e = ms.merge(b.leave());
  ASSERT_TRUE(e);
  EXPECT_EQ(e->what, kind::left);
  EXPECT_EQ(ms.find("node-b")->incarnation, 2u);
  EXPECT_FALSE(ms.merge(node("node-b", 1, dead)));
  EXPECT_FALSE(ms.merge(node("node-b", 2, dead)));  // left beats dead
  EXPECT_EQ(ms.find("node-b")->status, left);
  EXPECT_TRUE(ms.peers().empty());
}

TEST_F(membership_test, tombstones_are_forgotten_after_their_ttl) {
  add_peers(ms, 2);
  auto e = ms.merge(node("peer-00", 1, dead));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->what, kind::dead);
  ASSERT_TRUE(ms.merge(node("peer-01", 1, left)));
  clk.advance(1h - 1ms);
  EXPECT_TRUE(ms.tick().empty());
  ASSERT_NE(ms.find("peer-00"), nullptr);
  ASSERT_NE(ms.find("peer-01"), nullptr);
  // While the tombstone exists, alive rumours not newer than it lose.
  EXPECT_FALSE(ms.merge(node("peer-00", 0)));
  EXPECT_FALSE(ms.merge(node("peer-00", 1)));
  EXPECT_EQ(ms.find("peer-00")->status, dead);
  clk.advance(1ms);
  EXPECT_TRUE(ms.tick().empty());  // forgetting is not an event
  EXPECT_EQ(ms.find("peer-00"), nullptr);
  EXPECT_EQ(ms.find("peer-01"), nullptr);
  EXPECT_EQ(ms.members().size(), 1u);
}

TEST_F(membership_test, a_rumoured_death_ages_from_when_it_came) {
  add_peers(ms, 1);
  clk.advance(30min);
  ASSERT_TRUE(ms.merge(node("peer-00", 1, dead)));
  clk.advance(1h - 1ms);
  ms.tick();
  ASSERT_NE(ms.find("peer-00"), nullptr);
  clk.advance(1ms);
  ms.tick();
  EXPECT_EQ(ms.find("peer-00"), nullptr);
}

TEST_F(membership_test, a_tombstone_ages_from_the_death) {
  add_peers(ms, 2);
  ASSERT_TRUE(ms.probe_failed("peer-00"));
  clk.advance(1s);
  ASSERT_EQ(ms.tick().size(), 1u);  // dead now
  clk.advance(1h - 1ms);
  ms.tick();
  ASSERT_NE(ms.find("peer-00"), nullptr);
  clk.advance(1ms);
  ms.tick();
  EXPECT_EQ(ms.find("peer-00"), nullptr);
  EXPECT_NE(ms.find("peer-01"), nullptr);  // the living stay
}

TEST_F(membership_test, a_dead_member_back_at_a_higher_incarnation_joins) {
  ASSERT_TRUE(ms.merge(node("node-b", 1, alive, 7946)));
  clk.advance(5s);
  ms.heard_from("node-b");
  auto seen = clk.unix_ms();
  ASSERT_TRUE(ms.merge(node("node-b", 1, dead)));
  // It restarted on other ports, with another version.
  auto back = node("node-b", 2, alive, 8000);
  back.version = "0.2.0";
  auto e = ms.merge(back);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->what, kind::joined);
  const auto* b = ms.find("node-b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->status, alive);
  EXPECT_EQ(b->incarnation, 2u);
  EXPECT_EQ(b->cluster_addr, "node-b:8000");
  EXPECT_EQ(b->http_addr, "node-b:9000");
  EXPECT_EQ(b->version, "0.2.0");
  EXPECT_EQ(b->last_seen_ms, seen);  // local, kept
  EXPECT_EQ(ms.peers(), std::vector<std::string>{"node-b"});
}

TEST_F(membership_test, a_restart_before_its_death_updates_the_address) {
  ASSERT_TRUE(ms.merge(node("node-b", 1, alive, 7946)));
  auto e = ms.merge(node("node-b", 2, alive, 8000));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->what, kind::alive);
  EXPECT_EQ(ms.find("node-b")->cluster_addr, "node-b:8000");
  // A losing rumour changes no address.
  EXPECT_FALSE(ms.merge(node("node-b", 2, alive, 9999)));
  EXPECT_EQ(ms.find("node-b")->cluster_addr, "node-b:8000");
}

// -- choosing whom to talk to -------------------------------------------------

TEST_F(membership_test, probes_nobody_when_alone) {
  uint64_t rng = 1;
  EXPECT_FALSE(ms.next_probe_target(rng));
  ASSERT_FALSE(ms.merge(node("node-b", 1, dead)));
  EXPECT_FALSE(ms.next_probe_target(rng));
}

TEST_F(membership_test, probes_every_peer_once_per_round) {
  add_peers(ms, 4);
  ASSERT_TRUE(ms.probe_failed("peer-03"));  // suspects are probed too
  auto everyone = ms.peers();
  uint64_t rng = 42;
  std::set<std::vector<std::string>> orders;
  for (int round = 0; round < 6; ++round) {
    std::vector<std::string> order;
    for (size_t i = 0; i < everyone.size(); ++i) {
      auto t = ms.next_probe_target(rng);
      ASSERT_TRUE(t);
      order.push_back(*t);
    }
    auto sorted = order;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, everyone) << "round " << round;
    orders.insert(order);
  }
  EXPECT_GT(orders.size(), 1u);  // shuffled anew each round
}

TEST_F(membership_test, a_round_skips_members_gone_since_it_began) {
  add_peers(ms, 4);
  uint64_t rng = 7;
  auto first = ms.next_probe_target(rng);
  ASSERT_TRUE(first);
  auto everyone = ms.peers();
  auto victim = everyone[0] == *first ? everyone[1] : everyone[0];
  ASSERT_TRUE(ms.merge(node(victim, 1, dead)));
  ASSERT_TRUE(ms.merge(node("late-joiner", 1)));

  std::set<std::string> rest;
  for (int i = 0; i < 2; ++i) rest.insert(*ms.next_probe_target(rng));
  EXPECT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest.count(victim), 0u);
  EXPECT_EQ(rest.count(*first), 0u);
  EXPECT_EQ(rest.count("late-joiner"), 0u);  // it waits for the next round

  std::set<std::string> next;
  for (int i = 0; i < 4; ++i) next.insert(*ms.next_probe_target(rng));
  auto expected = ms.peers();
  EXPECT_EQ(next, std::set<std::string>(expected.begin(), expected.end()));
  EXPECT_EQ(next.count("late-joiner"), 1u);
  EXPECT_EQ(next.count(victim), 0u);
}

TEST_F(membership_test, indirect_probers_are_alive_peers_but_the_target) {
  ASSERT_TRUE(ms.merge(node("target", 1)));
  ASSERT_TRUE(ms.merge(node("suspect", 1, suspect)));
  ASSERT_FALSE(ms.merge(node("dead", 1, dead)));
  add_peers(ms, 3);
  const std::set<std::string> allowed{"peer-00", "peer-01", "peer-02"};
  std::set<std::string> chosen;
  for (uint64_t seed = 0; seed < 50; ++seed) {
    uint64_t rng = seed;
    auto helpers = ms.indirect_probers("target", rng);
    ASSERT_EQ(helpers.size(), 2u);
    EXPECT_NE(helpers[0], helpers[1]);
    for (const auto& h : helpers) {
      EXPECT_EQ(allowed.count(h), 1u) << h;
      chosen.insert(h);
    }
  }
  EXPECT_EQ(chosen, allowed);  // a random choice, not always the same two
}

TEST_F(membership_test, indirect_probers_are_limited_by_who_is_there) {
  membership_options opts;
  opts.indirect_checks = 10;
  membership m{clk, opts, node("node-a", 1)};
  uint64_t rng = 3;
  ASSERT_TRUE(m.merge(node("target", 1)));
  EXPECT_TRUE(m.indirect_probers("target", rng).empty());
  add_peers(m, 3);
  auto helpers = m.indirect_probers("target", rng);
  std::sort(helpers.begin(), helpers.end());
  EXPECT_EQ(helpers,
            (std::vector<std::string>{"peer-00", "peer-01", "peer-02"}));
}

TEST_F(membership_test, pushes_and_pulls_with_an_alive_peer) {
  uint64_t rng = 11;
  EXPECT_FALSE(ms.push_pull_target(rng));
  ASSERT_TRUE(ms.merge(node("node-s", 1, suspect)));
  EXPECT_FALSE(ms.push_pull_target(rng));
  add_peers(ms, 2);
  std::set<std::string> chosen;
  for (int i = 0; i < 50; ++i) {
    auto t = ms.push_pull_target(rng);
    ASSERT_TRUE(t);
    chosen.insert(*t);
  }
  EXPECT_EQ(chosen, (std::set<std::string>{"peer-00", "peer-01"}));
}

TEST_F(membership_test, tries_a_dead_member_again_once_per_reconnect_interval) {
  uint64_t rng = 5;
  add_peers(ms, 2);
  EXPECT_FALSE(ms.reconnect_target(rng)) << "nobody is dead";
  ASSERT_TRUE(ms.merge(node("node-x", 1, dead)) || ms.find("node-x"));
  ASSERT_TRUE(ms.merge(node("peer-00", 1, dead)));
  ASSERT_TRUE(ms.merge(node("node-l", 1, left)) || ms.find("node-l"));
  std::set<std::string> chosen;
  auto t = ms.reconnect_target(rng);
  ASSERT_TRUE(t);
  chosen.insert(*t);
  EXPECT_FALSE(ms.reconnect_target(rng)) << "within the interval";
  clk.advance(ms.options().reconnect_interval - 1ms);
  EXPECT_FALSE(ms.reconnect_target(rng));
  for (int i = 0; i < 40; ++i) {
    clk.advance(ms.options().reconnect_interval);
    auto u = ms.reconnect_target(rng);
    ASSERT_TRUE(u);
    chosen.insert(*u);
  }
  // Dead members only: never the left one, never an alive one.
  EXPECT_EQ(chosen, (std::set<std::string>{"node-x", "peer-00"}));
}

TEST_F(membership_test, the_majority_side_shares_out_among_the_living) {
  add_peers(ms, 4);  // node-a and peer-00..03: five members
  for (auto p : {"peer-00", "peer-01", "peer-02", "peer-03"}) ms.heard_from(p);
  EXPECT_EQ(ms.owner_candidates(), ms.alive_names());
  // One suspect, one dead: this node reaches three of five, a majority; the
  // suspect keeps its share until it is declared dead, the dead one's
  // share moves.
  ASSERT_TRUE(ms.merge(node("peer-00", 1, dead)));
  ASSERT_TRUE(ms.merge(node("peer-01", 1, suspect)));
  EXPECT_EQ(
      ms.owner_candidates(),
      (std::vector<std::string>{"node-a", "peer-01", "peer-02", "peer-03"}));
}

TEST_F(membership_test, the_minority_side_keeps_everyone_not_left) {
  add_peers(ms, 4);
  for (auto p : {"peer-00", "peer-01", "peer-02", "peer-03"}) ms.heard_from(p);
  // Three of five unreachable: this side is a minority, so instances stay
  // shared out over all five and nothing of the others is taken over.
  ASSERT_TRUE(ms.merge(node("peer-00", 1, dead)));
  ASSERT_TRUE(ms.merge(node("peer-01", 1, dead)));
  ASSERT_TRUE(ms.merge(node("peer-02", 1, suspect)));
  EXPECT_EQ(ms.owner_candidates(),
            (std::vector<std::string>{"node-a", "peer-00", "peer-01", "peer-02",
                                      "peer-03"}));
  // Half is not a majority either (a 2-node cluster losing one).
  membership pair{clk, {}, node("node-a", 1)};
  ASSERT_TRUE(pair.merge(node("node-b", 1)));
  ASSERT_TRUE(pair.merge(node("node-b", 1, dead)));
  EXPECT_EQ(pair.owner_candidates(),
            (std::vector<std::string>{"node-a", "node-b"}));
}

TEST_F(membership_test, members_not_heard_from_lately_do_not_make_a_majority) {
  // The first moments of a partition as the cut-off node sees them: one
  // peer already dead, the other still alive in the view but silent since
  // the cut. This node must not believe it holds a majority.
  add_peers(ms, 2);  // three members
  ms.heard_from("peer-00");
  ms.heard_from("peer-01");
  ASSERT_TRUE(ms.merge(node("peer-00", 1, dead)));
  EXPECT_EQ(ms.owner_candidates(),
            (std::vector<std::string>{"node-a", "peer-01"}))
      << "peer-01 was heard a moment ago: a majority";
  // Still a majority one round later: with shuffled rounds the next probe
  // of peer-01 may come up to two rounds after the last.
  clk.advance(ms.options().probe_interval + ms.probe_timeout() + 1ms);
  EXPECT_EQ(ms.owner_candidates(),
            (std::vector<std::string>{"node-a", "peer-01"}));
  // Two probe rounds (one peer: two probe intervals) and a probe timeout.
  clk.advance(ms.options().probe_interval);
  EXPECT_EQ(ms.owner_candidates(),
            (std::vector<std::string>{"node-a", "peer-00", "peer-01"}));
  ms.heard_from("peer-01");
  EXPECT_EQ(ms.owner_candidates(),
            (std::vector<std::string>{"node-a", "peer-01"}));
}

TEST_F(membership_test, members_that_left_shrink_the_cluster_at_once) {
  add_peers(ms, 2);  // three members
  ASSERT_TRUE(ms.merge(node("peer-00", 2, left)));
  ASSERT_TRUE(ms.merge(node("peer-01", 1, dead)));
  // One of two not left is alive: not a majority, so both stay candidates.
  EXPECT_EQ(ms.owner_candidates(),
            (std::vector<std::string>{"node-a", "peer-01"}));
  ASSERT_TRUE(ms.merge(node("peer-01", 2, left)));
  EXPECT_EQ(ms.owner_candidates(), std::vector<std::string>{"node-a"});
}
