#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/common/clock.hpp"

namespace valmesh {

/// A member's state as the cluster sees it. At one incarnation the later
/// state in this order wins: alive < suspect < dead < left.
enum class member_status : uint8_t { alive, suspect, dead, left };

/// Returns "alive", "suspect", "dead" or "left".
std::string_view to_string(member_status x) noexcept;

/// Parses the names `to_string` returns.
std::optional<member_status> parse_member_status(std::string_view x) noexcept;

/// One node of the cluster as the others know it.
struct member {
  std::string name;          ///< unique node name (`--node-name`)
  std::string cluster_addr;  ///< host:port of its cluster listener
  std::string http_addr;     ///< host:port of its HTTP API
  std::string version;       ///< valmesh version it runs
  /// Raised only by the member itself (to refute a suspicion, to leave, on
  /// every start); a newer incarnation beats anything said of an older one.
  uint64_t incarnation = 0;
  member_status status = member_status::alive;
  /// Unix ms of the last direct sign of life this node had from it (0:
  /// none). Local to each node: `merge` never takes it from a rumour.
  int64_t last_seen_ms = 0;

  friend bool operator==(const member&, const member&) = default;
};

/// What changed in the local view, for events (`member_joined`, ...).
struct member_event {
  enum class kind : uint8_t {
    joined,   ///< a new member, or one back from dead or left
    suspect,  ///< alive -> suspect (or suspect again, at a higher incarnation)
    alive,    ///< suspect -> alive (it refuted the suspicion), or alive at a
              ///< higher incarnation (it refuted one elsewhere, or restarted)
    dead,     ///< -> dead (suspicion timed out, or a rumour said so)
    left,     ///< it left gracefully
    refuted,  ///< about self: a rumour suspected or buried this node, so it
              ///< raised its incarnation; persist it and tell the others
  };
  kind what;
  member subject;  ///< the member after the change
};

/// Returns "member_joined", "member_suspect", "member_alive",
/// "member_dead", "member_left" or "member_refuted".
std::string_view event_name(member_event::kind k) noexcept;

/// Options of the failure detector.
///
/// | name               | default | meaning |
/// |--------------------|---------|---------|
/// | probe_interval     | 500ms   | one member probed per interval, round-robin |
/// | probe_timeout      | 200ms   | wait for a direct ack before asking others |
/// | indirect_checks    | 2       | members asked to probe on our behalf |
/// | suspicion_mult     | 2       | suspicion timeout = mult x probe_interval x max(1, log10 n) |
/// | max_local_health   | 8       | ceiling of the Lifeguard local-health score |
/// | push_pull_interval | 2s      | full member-list exchange with one member |
/// | tombstone_ttl      | 1h      | dead and left members remembered this long |
/// | reconnect_interval | 5s      | a dead member tried again (a push-pull), so a healed partition rejoins |
struct membership_options {
  std::chrono::milliseconds probe_interval{500};
  std::chrono::milliseconds probe_timeout{200};
  size_t indirect_checks = 2;
  uint32_t suspicion_mult = 2;
  uint32_t max_local_health = 8;
  std::chrono::milliseconds push_pull_interval{2000};
  std::chrono::milliseconds tombstone_ttl{std::chrono::hours{1}};
  std::chrono::milliseconds reconnect_interval{5000};
};

/// The membership of one node: SWIM's failure detector (Das et al., 2002)
/// with Lifeguard's local health (Dadgar et al., 2017), as
/// hashicorp/memberlist does it, as plain logic. The cluster actor feeds it
/// what it hears and what its probes find, asks it whom to probe, and
/// spreads what it returns. Time comes from `clock`.
///
/// Precedence of what is said about a member: a higher incarnation wins;
/// at the same incarnation the worse state wins (alive < suspect < dead <
/// left). Only the member itself raises its incarnation, so a stale rumour
/// can never bury a live node: the node refutes it by raising its own.
class membership {
 public:
  /// `self` is this node, alive at the incarnation it starts with (which
  /// the caller persists, one higher on every start).
  membership(const clock& clk, membership_options options, member self);

  const member& self() const noexcept;
  const membership_options& options() const noexcept { return options_; }

  /// Every known member by name, this node included, tombstones (dead and
  /// left members) too.
  const std::map<std::string, member>& members() const noexcept {
    return members_;
  }

  /// The member called `name`, or nullptr.
  const member* find(std::string_view name) const;

  /// How many members are in `status` (this node included).
  size_t count(member_status status) const;

  /// Names of the members to talk to: alive or suspect, not self, by name.
  std::vector<std::string> peers() const;

  /// Names of alive members, this node included, by name (the candidates
  /// of `rendezvous_owner`).
  std::vector<std::string> alive_names() const;

  /// The members among which instances are shared out for judging (health
  /// checks, leases), this node included, by name. While this node reaches
  /// a majority of the members not `left` (itself and the alive members it
  /// heard from within two probe rounds and a probe timeout), the alive and
  /// suspect ones: a member's share moves once it is declared dead, and the
  /// majority side of a partition takes over what the other side judged.
  /// Otherwise every member not `left`: the minority side judges only its
  /// own share and keeps the last known status of the rest until the
  /// partition heals. A member that leaves shrinks the cluster at once; a
  /// dead one counts until it is forgotten (`tombstone_ttl`).
  std::vector<std::string> owner_candidates() const;

  /// Merges what another node says of a member (a broadcast, an entry of a
  /// push-pull, a join). Returns the change, if the local view changed:
  /// every rumour that wins by precedence yields one event, to spread on,
  /// even when the member's status stays (a higher incarnation is news).
  /// A rumour about this node that suspects it or buries it (at an
  /// incarnation at least its own) raises its incarnation past the rumour
  /// and returns `refuted`; once this node has left, rumours about it
  /// change nothing. A rumour about an unknown member that is dead or left
  /// is kept as a tombstone, with no event; one that is alive or suspect
  /// is `joined` with that status.
  std::optional<member_event> merge(const member& rumour);

  /// A direct sign of life from `name` (an ack, any message from it):
  /// records `last_seen_ms`. Does not clear a suspicion: only the member's
  /// own refutation does.
  void heard_from(std::string_view name);

  /// The direct and indirect probes of `name` all failed: an alive member
  /// turns suspect at its current incarnation and its suspicion timer
  /// starts. Returns the change, if any.
  std::optional<member_event> probe_failed(std::string_view name);

  /// A probe this node made was answered in time: local health improves.
  void probe_succeeded() noexcept;

  /// A probe this node made got no direct ack in time: local health
  /// worsens (the fault may be this node's own).
  void ack_missed() noexcept;

  /// After a missed ack, a member asked to probe the same target answered
  /// that it could not reach it either (Lifeguard's nack): the target is
  /// the silent one, not this node, so the raise of `ack_missed` is taken
  /// back. Without such an answer (no helper, or none answering in time)
  /// the raise stays.
  void nack_heard() noexcept;

  /// The probe timer fired `lateness` after it was due. A timer late by
  /// more than half a probe interval means this node is starved of CPU:
  /// local health worsens, so it waits longer before it suspects others.
  void timer_fired(std::chrono::milliseconds lateness) noexcept;

  /// Lifeguard's local-health score, 0 (healthy) to `max_local_health`.
  uint32_t local_health() const noexcept { return local_health_; }

  /// The probe timeout, stretched by local health: probe_timeout x
  /// (local_health + 1).
  std::chrono::milliseconds probe_timeout() const noexcept;

  /// The suspicion timeout: suspicion_mult x probe_interval x max(1,
  /// log10 n) for n known alive or suspect members, stretched by local
  /// health: x (local_health + 1).
  std::chrono::milliseconds suspicion_timeout() const noexcept;

  /// Applies time: suspects whose suspicion timed out turn dead, and
  /// tombstones older than `tombstone_ttl` are forgotten. Returns the
  /// changes (forgetting one is not an event).
  std::vector<member_event> tick();

  /// This node leaves gracefully: it turns `left` at a raised incarnation.
  /// Returns itself as it now is, to announce.
  member leave();

  /// The next member to probe: round-robin over the peers in an order
  /// shuffled (with `rng`, a SplitMix64 state) at the start of each round,
  /// so every peer is probed once per round. Empty when alone.
  std::optional<std::string> next_probe_target(uint64_t& rng);

  /// Up to `indirect_checks` alive peers other than `target`, at random:
  /// the members asked to probe `target` on this node's behalf.
  std::vector<std::string> indirect_probers(std::string_view target,
                                            uint64_t& rng) const;

  /// One alive peer at random for a push-pull, or empty when alone.
  std::optional<std::string> push_pull_target(uint64_t& rng) const;

  /// A dead member at random to try again, at most once per
  /// `reconnect_interval`; empty otherwise. Dead members are not probed,
  /// so without this two sides of a healed partition, each holding the
  /// other dead, would never talk again (memberlist's reconnect).
  std::optional<std::string> reconnect_target(uint64_t& rng);

 private:
  /// Local bookkeeping of a member, never gossiped.
  struct timing {
    clock::time_point since;  ///< when it entered its current status
  };

  void set_status(member& m, member_status s);
  void raise_local_health() noexcept;
  void lower_local_health() noexcept;
  /// Handles a rumour about this node: refutes accusations.
  std::optional<member_event> merge_self(const member& rumour);
  /// Returns the alive members other than self, by name.
  std::vector<std::string> alive_peers() const;

  const clock& clock_;
  membership_options options_;
  std::string self_name_;
  std::map<std::string, member> members_;
  std::map<std::string, timing> timings_;
  std::vector<std::string> probe_order_;
  size_t probe_next_ = 0;
  uint32_t local_health_ = 0;
  clock::time_point next_reconnect_;
};

}  // namespace valmesh
