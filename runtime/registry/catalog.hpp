#pragma once

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <vector>

#include "runtime/cluster/hlc.hpp"
#include "runtime/common/clock.hpp"
#include "runtime/common/error.hpp"
#include "runtime/registry/service_instance.hpp"

namespace valmesh {

/// Options of the catalog.
///
/// | name                      | default | meaning                                                                |
/// |---------------------------|---------|------------------------------------------------------------------------|
/// | node_name                 | none    | recorded as `node` on new entries and as the origin of this node's writes |
/// | deregister_critical_after | 60s     | remove an instance critical this long (0: never)                       |
/// | tombstone_ttl             | 24h     | how long a deletion is remembered for replicas that missed it          |
/// | max_tombstones            | 100000  | at most this many deletions remembered (the oldest go first)           |
/// | judges                    | all     | which instances this node judges (leases, removal); unset: every one   |
struct catalog_options {
  std::string node_name;
  std::chrono::milliseconds deregister_critical_after{std::chrono::seconds{60}};
  std::chrono::milliseconds tombstone_ttl{std::chrono::hours{24}};
  size_t max_tombstones = 100'000;
  std::function<bool(const service_instance&)> judges;
};

/// What a catalog mutation did, for the registry to publish.
struct catalog_change {
  enum class kind : uint8_t {
    registered,
    updated,
    deregistered,
    status_changed,
    renewed,  ///< a heartbeat renewed the lease; nothing else changed
  };
  kind what;
  service_instance
      instance;  ///< the instance after the change (before, if removed)
  health_status previous = health_status::unknown;
  std::string reason;  ///< why it was removed: "deregistered" or "critical"
  /// Applied from another node's write (replication), not made here: the
  /// registry persists and publishes it but does not push it on.
  bool replicated = false;
};

/// One entry as replicas exchange it: a live instance, or a deletion
/// (`removed`, with the instance's name, id, node and revision only).
struct catalog_entry {
  service_instance instance;
  bool removed = false;
};

/// The entry of the deletion of `x`: its name, id, node and revision (the
/// removal's).
catalog_entry deletion_of(const service_instance& x);

/// A summary of a catalog's live entries for anti-entropy: the entries fall
/// into `buckets` by a hash of (service, id), and each bucket holds the XOR
/// of a hash of each of its entries' (service, id, revision). Two replicas
/// with equal digests hold the same entries at the same versions (up to
/// hash collisions); a differing bucket names the entries to exchange.
struct catalog_digest {
  static constexpr size_t bucket_count = 256;
  std::vector<uint64_t> buckets = std::vector<uint64_t>(bucket_count, 0);
  friend bool operator==(const catalog_digest&,
                         const catalog_digest&) = default;
};

/// The buckets in which `a` and `b` differ.
std::vector<uint32_t> differing_buckets(const catalog_digest& a,
                                        const catalog_digest& b);

/// The registry's data: services, their instances, TTL leases, and a
/// monotonically increasing index stamped on every change (Consul's
/// ModifyIndex). Every write this node makes gets a `revision` from a
/// hybrid logical clock; writes of other nodes come in through `merge`, and
/// on every replica the greatest revision of an entry wins (last writer
/// wins), deletions included (tombstones). Plain logic: no actors, no I/O,
/// time from `clock`.
class catalog {
 public:
  catalog(const clock& clk, catalog_options options);

  /// Registers `x`, or updates it if its id exists in that service. An empty
  /// id becomes NAME-<8 hex>. A new instance starts `unknown`; an update keeps
  /// status and `registeredAt`, and a changed `ttl` restarts the lease.
  /// `x` must have passed `validate_instance`.
  expected<service_instance> upsert(service_instance x);

  /// Puts back an instance recovered from the store as it was persisted:
  /// its id, `registeredAt`, `node` and indexes are kept; it starts
  /// `unknown` with a fresh lease, and the catalog's index
  /// rises to at least its `modify_index`. Replaces an entry with its id.
  void restore(service_instance x);

  /// Puts back a deletion recovered from the store.
  void restore(tombstone t);

  /// Applies a write of another node if its revision is greater than the
  /// one this catalog holds for the entry (live or deleted); a deletion
  /// removes the instance. Returns what changed (marked `replicated`), if
  /// anything did.
  std::optional<catalog_change> merge(const catalog_entry& e);

  /// The anti-entropy digest of the live entries.
  const catalog_digest& digest() const noexcept { return digest_; }

  /// Every entry, live or deleted, that falls into one of `buckets`.
  std::vector<catalog_entry> entries_in(
      const std::vector<uint32_t>& buckets) const;

  /// The bucket of the digest that (name, id) falls into.
  static uint32_t bucket_of(std::string_view name, std::string_view id);

  /// Asks `judges` again of every instance (the members changed): one this
  /// node judges from now on gets a fresh lease (as after a restart), and
  /// one it no longer judges has no deadline here any more.
  void rejudge();

  /// Forgets the deletions older than `tombstone_ttl` (and the oldest past
  /// `max_tombstones`); returns them, so the store can forget them too.
  std::vector<tombstone> forget_old_tombstones();

  /// Raises the index to at least `index` (the store's, after `restore`).
  void restore_index(uint64_t index) noexcept {
    index_ = std::max(index_, index);
  }

  /// Removes an instance; returns it as it was, with the removal's revision.
  expected<service_instance> remove(const std::string& name,
                                    const std::string& id);

  /// Renews the TTL lease of an instance, which also makes it passing
  /// (Consul's TTL check) or `status` (Consul's warn and fail of a TTL
  /// check also renew it); `output`, when given, becomes the last check's
  /// output. Fails with `conflict` if it has no lease.
  expected<service_instance> heartbeat(
      const std::string& name, const std::string& id,
      health_status status = health_status::passing,
      std::optional<std::string> output = std::nullopt);

  /// Sets the health status of an instance (health checks use this).
  expected<service_instance> set_status(const std::string& name,
                                        const std::string& id,
                                        health_status status);

  /// Records a health check's result on an instance: its status (through
  /// the same path as `set_status`) and its `lastCheck`. Returns the change
  /// if the status changed.
  expected<std::optional<catalog_change>> record_check(const std::string& name,
                                                       const std::string& id,
                                                       health_status status,
                                                       int64_t duration_us,
                                                       std::string output);

  /// Applies the clock: leases that ran out turn critical, and instances
  /// critical longer than `deregister_critical_after` are removed. Returns
  /// what changed.
  std::vector<catalog_change> expire();

  /// Returns all instances of `name`, ordered by id; nullptr if unknown.
  const std::map<std::string, service_instance>* instances(
      const std::string& name) const;

  /// Returns one line per service, ordered by name.
  std::vector<service_summary> summaries() const;

  /// Returns the instance, or nullptr.
  const service_instance* find(const std::string& name,
                               const std::string& id) const;

  /// The index of the last change.
  uint64_t index() const noexcept { return index_; }

  size_t instance_count() const noexcept { return instance_count_; }
  size_t service_count() const noexcept { return services_.size(); }

  /// The deletions remembered, by "name/id".
  const std::map<std::string, tombstone>& tombstones() const noexcept {
    return tombstones_;
  }

  /// The hybrid clock that stamps this node's writes.
  const hybrid_clock& hlc() const noexcept { return hlc_; }

  /// The earliest lease deadline or removal time, if any instance has one.
  std::optional<clock::time_point> next_deadline();

  /// Whether any instance has a lease or a pending removal, i.e. whether
  /// `expire` can change anything (O(1), so the registry can decide cheaply
  /// whether to keep its timer armed).
  bool has_deadlines() const noexcept { return !deadlines_.empty(); }

  /// Returns every instance, ordered by service and id.
  std::vector<service_instance> all() const;

 private:
  /// Bookkeeping that users never see: monotonic deadlines.
  struct lease_state {
    std::optional<clock::time_point> lease_deadline;
    std::optional<clock::time_point> critical_since;
    uint64_t generation = 0;  ///< matches its live entry in `deadlines_`
    bool judged = false;      ///< whether this node judged it last time
  };

  /// When something may happen to an instance: its lease runs out, or its
  /// removal after `deregister_critical_after`.
  struct deadline {
    clock::time_point at;
    std::string name;
    std::string id;
    uint64_t generation;
    bool operator>(const deadline& other) const { return at > other.at; }
  };

  struct service_entry {
    std::map<std::string, service_instance> instances;
    std::map<std::string, lease_state> leases;
  };

  /// An instance and its lease bookkeeping, found together.
  struct entry_ref {
    service_instance& instance;
    lease_state& lease;
  };

  /// Finds (name, id), or says which of the two is unknown.
  expected<entry_ref> lookup(const std::string& name, const std::string& id);

  void change_status(service_instance& x, lease_state& l, health_status s);
  /// Re-files the instance's next deadline (the old entry goes stale).
  void update_timed(const service_instance& x, lease_state& l);
  void drop_stale_deadlines();
  /// Removes an instance and buries it, with `revision` (another node's
  /// removal) or a new one of this node's.
  service_instance erase(std::map<std::string, service_entry>::iterator svc,
                         const std::string& id,
                         std::optional<write_version> revision = std::nullopt);
  std::string make_id(const std::string& name);

  const clock& clock_;
  catalog_options options_;
  std::map<std::string, service_entry> services_;
  /// Stamps a write of this node on `x`, keeping the digest in step.
  void stamp(service_instance& x);
  void digest_add(const service_instance& x) noexcept;
  void digest_remove(const service_instance& x) noexcept;
  bool judges(const service_instance& x) const;
  void bury(tombstone t);

  hybrid_clock hlc_;
  std::map<std::string, tombstone> tombstones_;
  /// Keys of `tombstones_` in the order they were buried (oldest first);
  /// a key whose tombstone was replaced or dropped is skipped.
  std::deque<std::pair<std::string, int64_t>> burial_order_;
  catalog_digest digest_;
  /// Every pending deadline, earliest first; entries whose generation no
  /// longer matches their instance are stale and skipped (lazy deletion), so
  /// `expire` costs what is due, not a scan of every leased instance.
  std::priority_queue<deadline, std::vector<deadline>, std::greater<deadline>>
      deadlines_;
  uint64_t generations_ = 0;
  uint64_t index_ = 0;
  size_t instance_count_ = 0;
  uint64_t id_state_;
};

}  // namespace valmesh
