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
/// Counters and histograms are incremented where things happen (the HTTP
/// front end, health checkers, breakers, the mesh); figures that the actors
/// already keep (the catalog, the actor tree) are read at scrape time by
/// the endpoint. The per-service series are looked up once per service and
/// cached, so a hot path pays an atomic add, not a label lookup.
///
/// | metric                                | type      | labels          |
/// |---------------------------------------|-----------|-----------------|
/// | valmesh_http_responses_total          | counter   | code: 1xx..5xx  |
/// | valmesh_health_checks_total           | counter   | service, result |
/// | valmesh_health_check_duration_seconds | histogram | service         |
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

  /// One answer of the HTTP front end, by status class.
  void http_response(unsigned status) noexcept;

  /// One health check of `service`: "passing", "warning" or "critical".
  void health_check(const std::string& service, std::string_view result,
                    double seconds);

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
  prometheus::Family<prometheus::Counter>& http_;
  std::array<prometheus::Counter*, 6> http_by_class_{};
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
  std::mutex mtx_;
  std::unordered_map<std::string, service_series> services_;
};

}  // namespace valmesh
