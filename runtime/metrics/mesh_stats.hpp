#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/common/error.hpp"
#include "runtime/metrics/histogram.hpp"
#include "runtime/metrics/second_ring.hpp"

namespace valmesh {

/// What became of a mesh call or of one attempt: the upstream's status
/// class, or the mesh's own error (the `code` label of the mesh series).
enum class mesh_outcome : uint8_t {
  status_1xx,
  status_2xx,
  status_3xx,
  status_4xx,
  status_5xx,
  bad_gateway,
  bulkhead_full,
  circuit_open,
  no_healthy_instance,
  deadline_exceeded,
  unavailable,
};

inline constexpr size_t mesh_outcome_count = 11;

/// The label value: "2xx", "bulkhead_full"...
std::string_view to_label(mesh_outcome x) noexcept;

/// The class of an upstream status (a status outside 100..599 counts as 5xx).
mesh_outcome result_of_status(unsigned status) noexcept;

/// The mesh's own error `code` (anything unexpected counts as unavailable).
mesh_outcome result_of_error(errc code) noexcept;

/// A failure for the success rate: a 5xx answer or any mesh error (as
/// `linkerd viz stat` counts success).
inline bool is_failure(mesh_outcome x) noexcept {
  return x >= mesh_outcome::status_5xx;
}

/// One instance's figures as the mesh saw its attempts.
struct instance_figures {
  std::array<uint64_t, mesh_outcome_count> results{};  ///< attempts by result
  uint64_t try_timeouts = 0;
  uint64_t connections_opened = 0;
  uint64_t connections_reused = 0;
  latency_histogram attempt_latency;
  window_totals window;  ///< attempts in the asked window

  void merge(const instance_figures& o) noexcept;
};

/// One service's figures: its calls, and its instances by id.
struct service_figures {
  std::array<uint64_t, mesh_outcome_count> results{};  ///< calls by result
  uint64_t attempts = 0;
  uint64_t retries = 0;
  uint64_t retries_refused = 0;  ///< by the retry budget
  uint64_t try_timeouts = 0;
  uint64_t bulkhead_rejections = 0;
  int64_t in_flight = 0;
  latency_histogram latency;          ///< whole calls
  latency_histogram attempt_latency;  ///< each attempt
  window_totals window;               ///< calls in the asked window
  std::map<std::string, instance_figures> instances;

  void merge(const service_figures& o);
};

/// Services by name, in name order.
using mesh_figures = std::map<std::string, service_figures>;

/// The mesh's counts of one event loop. Only the loop's thread touches it,
/// so the hot path pays plain increments and one hash lookup per call and
/// per attempt: no lock and no atomic shared between loops. At scrape time
/// each loop copies its figures out (`collect`) on its own thread, and the
/// copies are merged (Envoy's thread-local stats, gathered the same way).
class mesh_stats {
 public:
  struct instance_entry {
    instance_figures figures;  ///< `window` unused here
    second_ring ring;
  };
  struct service_entry {
    service_figures figures;  ///< `window` and `instances` unused here
    second_ring ring;
    std::unordered_map<std::string, instance_entry> instances;

    instance_entry& instance(const std::string& id) { return instances[id]; }
  };

  /// The service's entry, created on first use. The reference stays valid
  /// until `prune` removes the entry, which it does only with no call in
  /// flight.
  service_entry& service(const std::string& name) { return services_[name]; }

  /// Counts a finished call of `s` at second `now`.
  static void call_finished(service_entry& s, int64_t now, mesh_outcome r,
                            uint32_t attempts, double latency_s);

  /// Counts an attempt of `s` at instance `id` at second `now`.
  static void attempt_finished(service_entry& s, const std::string& id,
                               int64_t now, mesh_outcome r, double latency_s,
                               bool reused_connection, bool connected,
                               bool try_timeout);

  /// Drops services and instances for which `live(service, instance)` is
  /// false (`instance` null asks about the service), keeping services with
  /// calls in flight. So a deregistered instance's series disappear at the
  /// next scrape, and its memory with them.
  void prune(
      const std::function<bool(const std::string&, const std::string*)>& live);

  /// Merges this loop's figures into `into`, with the windowed totals of
  /// (now - window, now] seconds (none when `window` is 0).
  void collect(int64_t now, int64_t window, mesh_figures& into) const;

  size_t size() const noexcept { return services_.size(); }

 private:
  std::unordered_map<std::string, service_entry> services_;
};

/// A label value in the text exposition format (backslash, double quote and
/// newline escaped).
std::string escape_label_value(std::string_view x);

/// Live figures the mesh's actors keep (bulkheads and breakers), read at
/// scrape time.
struct mesh_gauges {
  struct instance {
    std::string id;
    std::string breaker;  ///< closed, open, half_open
    uint32_t in_flight = 0;
  };
  struct service {
    std::string name;
    size_t queued = 0;
    std::vector<instance> instances;
  };
  std::vector<service> services;
};

/// Appends the mesh's series (docs/OPERATIONS.md, "Metrics") to `out` in the
/// Prometheus text format 0.0.4.
void write_mesh_metrics(std::string& out, const mesh_figures& figures,
                        const mesh_gauges& gauges, uint64_t connections_open);

}  // namespace valmesh
