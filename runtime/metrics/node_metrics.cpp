#include "runtime/metrics/node_metrics.hpp"

namespace valmesh {

namespace {

void one(std::string& out, const char* name, const char* type, const char* help,
         uint64_t v) {
  out.append("# HELP ").append(name).append(1, ' ').append(help);
  out.append("\n# TYPE ").append(name).append(1, ' ').append(type);
  out.append(1, '\n').append(name).append(1, ' ');
  out.append(std::to_string(v)).append(1, '\n');
}

}  // namespace

void registry_counters::count(const catalog_change& c) noexcept {
  using kind = catalog_change::kind;
  auto bump = [this](slot s) {
    counts_[s].fetch_add(1, std::memory_order_relaxed);
  };
  switch (c.what) {
    case kind::registered:
      return bump(registrations);
    case kind::updated:
      return bump(updates);
    case kind::deregistered:
      return bump(c.reason == "critical" ? removals : deregistrations);
    case kind::renewed:
      return bump(heartbeats);
    case kind::status_changed:
      if (c.reason == "lease_expired") bump(lease_expiries);
      return;
  }
}

void registry_counters::write(std::string& out) const {
  auto get = [this](slot s) {
    return counts_[s].load(std::memory_order_relaxed);
  };
  one(out, "valmesh_registry_registrations_total", "counter",
      "Instances registered on this node", get(registrations));
  one(out, "valmesh_registry_updates_total", "counter",
      "Registrations on this node that updated an instance", get(updates));
  one(out, "valmesh_registry_deregistrations_total", "counter",
      "Instances deregistered on this node", get(deregistrations));
  one(out, "valmesh_registry_removals_total", "counter",
      "Instances removed after being critical for deregisterCriticalAfter",
      get(removals));
  one(out, "valmesh_registry_heartbeats_total", "counter",
      "Lease renewals (heartbeats) taken by this node", get(heartbeats));
  one(out, "valmesh_registry_lease_expiries_total", "counter",
      "Leases that ran out on this node (the instance turned critical)",
      get(lease_expiries));
}

void write_tracing_metrics(std::string& out, const tracer_stats& started,
                           const span_buffer_stats& buffer,
                           const otlp_export_stats& exporter) {
  one(out, "valmesh_tracing_spans_started_total", "counter",
      "Spans started, sampled or not", started.started);
  one(out, "valmesh_tracing_spans_sampled_total", "counter",
      "Spans started that are recorded", started.sampled);
  one(out, "valmesh_tracing_spans_finished_total", "counter",
      "Recorded spans that reached the span buffer", buffer.finished);
  one(out, "valmesh_tracing_spans_dropped_total", "counter",
      "Spans pushed out of the full span buffer by newer ones", buffer.dropped);
  one(out, "valmesh_tracing_buffer_spans", "gauge",
      "Spans held in the span buffer", buffer.size);
  one(out, "valmesh_tracing_exported_spans_total", "counter",
      "Spans the OTLP receiver accepted", exporter.exported);
  one(out, "valmesh_tracing_export_failed_batches_total", "counter",
      "OTLP export batches given up after their retries",
      exporter.failed_batches);
  one(out, "valmesh_tracing_export_failed_spans_total", "counter",
      "Spans of the OTLP batches given up", exporter.failed_spans);
  one(out, "valmesh_tracing_export_dropped_spans_total", "counter",
      "Spans dropped because the export queue was full", exporter.dropped);
  one(out, "valmesh_tracing_export_queued_spans", "gauge",
      "Spans waiting for export", exporter.queued);
}

void write_scrape_success(std::string& out, const scrape_collectors& xs) {
  if (xs.empty()) return;
  out.append(
      "# HELP valmesh_scrape_collector_success Whether a part of the node "
      "answered this scrape (0: its series are missing from it)\n"
      "# TYPE valmesh_scrape_collector_success gauge\n");
  for (auto& [name, ok] : xs)
    out.append("valmesh_scrape_collector_success{collector=\"")
        .append(name)
        .append(ok ? "\"} 1\n" : "\"} 0\n");
}

}  // namespace valmesh
