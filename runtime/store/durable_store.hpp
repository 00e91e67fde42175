#pragma once

// The store's plain logic: what the `store` actor (actors/store.hpp) keeps and
// how. Two backends behind one interface: `durable_store` (the data dir: an
// append-only log with group commit, a snapshot, compaction, a lock file) and
// `memory_store` (`--dev`: the same records, kept in memory only).
//
// Files of a data dir (docs/OPERATIONS.md, "The data dir"):
//
//   LOCK                 flock()ed by the agent that owns the dir; holds its
//   pid snapshot-<seq>       the whole catalog as of the start of log-<seq>
//   log-<seq>            mutations after snapshot-<seq>, appended and fsynced
//   snapshot-<seq>.tmp   a snapshot being written (deleted on recovery)
//
// `<seq>` is 16 hex digits. Invariant: snapshot-S holds every mutation of
// every log-K with K < S, so recovery = the newest snapshot-S, then each
// log-K with K >= S in order. Compaction from log-K: (1) write
// snapshot-(K+1).tmp, fsync it, rename it to snapshot-(K+1), fsync the dir;
// (2) create log-(K+1), fsync it and the dir; (3) delete log-K and older
// snapshots. A crash at any point leaves files that recover to the same
// catalog (docs/ARCHITECTURE.md, "State and durability").

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/common/error.hpp"
#include "runtime/registry/service_instance.hpp"
#include "runtime/store/store_format.hpp"

namespace valmesh {

/// What a store holds: every live instance (as persisted) and the catalog
/// index to resume from.
struct store_contents {
  std::vector<service_instance> instances;
  std::vector<tombstone> tombstones;  ///< deletions still remembered
  uint64_t index = 0;
};

/// Figures of a store, for tests and introspection.
struct store_stats {
  uint64_t appends = 0;      ///< mutations appended since start
  uint64_t syncs = 0;        ///< fsyncs of the log (one per group commit)
  uint64_t compactions = 0;  ///< snapshots written
  uint64_t log_bytes = 0;    ///< size of the current log
  uint64_t log_records = 0;  ///< records in the current log
  uint64_t snapshot_bytes = 0;
  size_t live = 0;  ///< instances held
};

/// What recovery found, besides the contents.
struct recovery_report {
  size_t snapshot_records = 0;
  size_t log_records = 0;
  uint64_t cut_bytes = 0;  ///< bytes of torn or corrupt tails cut off
  std::vector<std::string> warnings;
};

/// The store's interface, as the `store` actor drives it. Not thread-safe:
/// one actor owns it at a time.
class store_backend {
 public:
  virtual ~store_backend() = default;

  /// Rebuilds the contents from what is durable (after a crash of the actor
  /// that held this backend); drops appends not yet synced.
  virtual std::optional<failure> recover() = 0;

  /// Whether appends are pending or an error left the backend unsure of its
  /// state; a new owner then calls `recover` first.
  virtual bool dirty() const noexcept = 0;

  /// Returns the live instances and the index.
  virtual store_contents contents() const = 0;

  /// Applies `m` and queues its record; durable only after `sync`.
  virtual void append(const store_mutation& m) = 0;

  /// Writes the queued records and fsyncs them: one fsync for the group.
  virtual std::optional<failure> sync() = 0;

  /// Whether the log has grown enough for a compaction.
  virtual bool compaction_due() const noexcept = 0;

  /// Writes a snapshot and starts a fresh log (after a `sync`).
  virtual std::optional<failure> compact() = 0;

  virtual store_stats stats() const noexcept = 0;
};

/// The entries of a store: (name, id) -> encoded `put` payload, the
/// tombstones, and the highest index seen. Shared by both backends.
class store_image {
 public:
  /// Applies one mutation.
  void apply(const store_mutation& m);

  store_contents contents() const;

  size_t size() const noexcept { return live_.size(); }
  uint64_t index() const noexcept { return index_; }

  /// Appends one `put` record per live entry, then the index, to `out`.
  void write_records(std::string& out) const;

  void clear() {
    live_.clear();
    buried_.clear();
    index_ = 0;
  }

 private:
  std::unordered_map<std::string, std::string> live_;
  /// Tombstones: (name, id) -> encoded `bury` payload.
  std::unordered_map<std::string, std::string> buried_;
  uint64_t index_ = 0;
};

/// `--dev`: every record in memory. Survives a restart of the store actor
/// (the node keeps it), not one of the process.
class memory_store final : public store_backend {
 public:
  std::optional<failure> recover() override { return std::nullopt; }
  bool dirty() const noexcept override { return false; }
  store_contents contents() const override { return image_.contents(); }
  void append(const store_mutation& m) override;
  std::optional<failure> sync() override;
  bool compaction_due() const noexcept override { return false; }
  std::optional<failure> compact() override { return std::nullopt; }
  store_stats stats() const noexcept override;

 private:
  store_image image_;
  store_stats stats_;
};

/// Options of a durable store.
///
/// | name              | default | meaning                                    |
/// |-------------------|---------|--------------------------------------------|
/// | dir               | —       | the data dir (created if missing)          |
/// | compact_min_bytes | 4 MiB   | no compaction while the log is smaller     |
/// | compact_ratio     | 1.0     | compact once the log is this many times    |
/// |                   |         | the size of the last snapshot              |
struct durable_store_options {
  std::string dir;
  uint64_t compact_min_bytes = 4 * 1024 * 1024;
  double compact_ratio = 1.0;
};

/// The data dir: a lock file, an append-only log with group commit, a
/// snapshot and compaction (see the top of this file).
class durable_store final : public store_backend {
 public:
  /// Creates the dir if missing, takes its lock (fails with
  /// `invalid_argument` naming the holder's pid if another process has it),
  /// and recovers. A torn or corrupt tail is cut off with a warning; only a
  /// file that is not valmesh's, or an I/O error, fails.
  static expected<std::unique_ptr<durable_store>> open(
      durable_store_options options);

  ~durable_store() override;
  durable_store(const durable_store&) = delete;
  durable_store& operator=(const durable_store&) = delete;

  std::optional<failure> recover() override;
  bool dirty() const noexcept override { return dirty_; }
  store_contents contents() const override { return image_.contents(); }
  void append(const store_mutation& m) override;
  std::optional<failure> sync() override;
  bool compaction_due() const noexcept override;
  std::optional<failure> compact() override;
  store_stats stats() const noexcept override;

  /// What the last recovery found.
  const recovery_report& last_recovery() const noexcept { return report_; }

  /// The file names of the data dir, for tests and docs.
  static std::string log_name(uint64_t seq);
  static std::string snapshot_name(uint64_t seq);
  static constexpr const char* lock_name = "LOCK";

 private:
  explicit durable_store(durable_store_options options);

  std::optional<failure> lock();
  std::optional<failure> open_log(uint64_t seq, bool create);
  std::optional<failure> write_snapshot(uint64_t seq);
  std::optional<failure> fsync_dir();
  void close_log();

  durable_store_options options_;
  int lock_fd_ = -1;
  int log_fd_ = -1;
  uint64_t log_seq_ = 0;
  std::string pending_;  ///< records appended, not yet written
  size_t pending_records_ = 0;
  bool dirty_ = false;
  store_image image_;
  store_stats stats_;
  recovery_report report_;
};

}  // namespace valmesh
