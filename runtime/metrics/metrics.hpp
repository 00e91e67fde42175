#pragma once

#include <array>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace valmesh {

/// The node's Prometheus metrics (`GET /metrics`), on prometheus-cpp.
///
/// Counters and histograms are incremented where things happen (health
/// checkers, breakers, the cluster); figures that the actors
/// already keep (the catalog, the actor tree) are read at scrape time by
/// the endpoint. The per-service series are looked up once per service and
/// cached, so a hot path pays an atomic add, not a label lookup.
///
/// | metric                                | type      | labels          |
/// |---------------------------------------|-----------|-----------------|
/// | valmesh_health_checks_total           | counter   | service, result |
/// | valmesh_health_check_duration_seconds | histogram | service         |
/// | valmesh_health_check_lateness_seconds | histogram |                 |
/// | valmesh_store_appends_total           | counter   |                 |
/// | valmesh_store_fsync_duration_seconds  | histogram |                 |
/// | valmesh_store_compactions_total       | counter   |                 |
/// | valmesh_store_bytes                   | gauge     |                 |
/// | valmesh_breaker_transitions_total     | counter   | service, to     |
/// | valmesh_cluster_members               | gauge     | status          |
/// | valmesh_replication_messages_total    | counter   | direction       |
/// | valmesh_replication_entries_total     | counter   | direction       |
/// | valmesh_replication_bytes_total       | counter   | direction       |
/// | valmesh_anti_entropy_rounds_total     | counter   |                 |
/// | valmesh_anti_entropy_entries_total    | counter   |                 |
/// | valmesh_replication_lag_seconds       | histogram |                 |
class metrics {
 public:
  metrics();

  prometheus::Registry& registry() noexcept { return *registry_; }

  /// The text exposition of every registered metric.
  std::string expose() const;

  /// One health check of `service`: "passing", "warning" or "critical".
  void health_check(const std::string& service, std::string_view result,
                    double seconds);

  /// One check started `seconds` after its scheduled time (the checker's
  /// timer and mailbox delay).
  void health_check_lateness(double seconds) noexcept;

  /// One group commit of the store: `appends` made durable by one fsync
  /// that took `seconds`.
  void store_synced(size_t appends, double seconds) noexcept;

  /// One compaction of the store (a snapshot written, a fresh log).
  void store_compacted() noexcept;

  /// The data dir's log and snapshot, in bytes (0 with `--dev`).
  void store_bytes(uint64_t bytes) noexcept;

  /// A breaker of `service` moved to state `to`.
  void breaker_transition(const std::string& service, std::string_view to);

  /// The cluster's members by status, as this node sees them.
  void cluster_members(size_t alive, size_t suspect, size_t dead,
                       size_t left) noexcept;

  /// One message of replicated writes sent to a member ("out") or received
  /// ("in"), with its entries and its size on the wire.
  void replication(bool out, size_t entries, size_t bytes) noexcept;

  /// One anti-entropy round this node started, and the entries it received
  /// in it (what pushes had missed, or copies as new as its own).
  void anti_entropy(size_t entries) noexcept;

  /// The time from a replicated write's version to its apply on this node.
  void replication_lag(double seconds) noexcept;

 private:
  struct service_series {
    prometheus::Histogram* check_duration = nullptr;
    std::unordered_map<std::string, prometheus::Counter*> by_label;
  };

  service_series& series(const std::string& service);
  prometheus::Counter& labelled(service_series& s,
                                prometheus::Family<prometheus::Counter>& f,
                                const std::string& service,
                                const char* label_name, std::string_view value);

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& checks_;
  prometheus::Family<prometheus::Histogram>& check_duration_;
  prometheus::Family<prometheus::Counter>& transitions_;
  std::array<prometheus::Gauge*, 4> members_{};
  /// [0] in, [1] out.
  std::array<prometheus::Counter*, 2> repl_messages_{}, repl_entries_{},
      repl_bytes_{};
  prometheus::Counter* ae_rounds_ = nullptr;
  prometheus::Counter* ae_entries_ = nullptr;
  prometheus::Histogram* repl_lag_ = nullptr;
  prometheus::Histogram* check_lateness_ = nullptr;
  prometheus::Counter* store_appends_ = nullptr;
  prometheus::Histogram* store_fsync_ = nullptr;
  prometheus::Counter* store_compactions_ = nullptr;
  prometheus::Gauge* store_bytes_ = nullptr;
  std::mutex mtx_;
  std::unordered_map<std::string, service_series> services_;
};

}  // namespace valmesh
