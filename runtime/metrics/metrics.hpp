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
  std::mutex mtx_;
  std::unordered_map<std::string, service_series> services_;
};

}  // namespace valmesh
