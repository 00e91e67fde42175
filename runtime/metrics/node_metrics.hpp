#pragma once

// Series of the node's own parts: the registry's changes, and the tracer's
// figures read at scrape time.

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "runtime/registry/catalog.hpp"

#include "runtime/tracing/otlp.hpp"
#include "runtime/tracing/span_buffer.hpp"
#include "runtime/tracing/tracer.hpp"

namespace valmesh {

/// The catalog's changes made on this node (replicated ones aside), counted
/// by the registry's change hook (one thread) and read at scrape time.
class registry_counters {
 public:
  /// Counts `c`: a registration, update, deregistration, removal of a
  /// critical instance (reason "critical"), heartbeat, or lease expiry
  /// (a status change with reason "lease_expired").
  void count(const catalog_change& c) noexcept;

  /// Appends the `valmesh_registry_*_total` series.
  void write(std::string& out) const;

 private:
  enum slot : size_t {
    registrations,
    updates,
    deregistrations,
    removals,
    heartbeats,
    lease_expiries,
    slots
  };
  std::atomic<uint64_t> counts_[slots] = {};
};

/// Appends the tracing series (docs/OPERATIONS.md, "The node"): spans
/// started and sampled, finished into the buffer and dropped from it, and
/// the OTLP export's figures.
void write_tracing_metrics(std::string& out, const tracer_stats& started,
                           const span_buffer_stats& buffer,
                           const otlp_export_stats& exporter);

/// Whether each part of the node a scrape reads answered, by name
/// (`catalog`, `mesh`, `tracing`), in the order they were read.
using scrape_collectors = std::vector<std::pair<std::string, bool>>;

/// Appends `valmesh_scrape_collector_success{collector}`: 1 for a part that
/// answered, 0 for one that did not (restarting, or past the actor timeout)
/// and whose series are missing from this scrape, as node_exporter's
/// `node_scrape_collector_success`. Nothing when `xs` is empty.
void write_scrape_success(std::string& out, const scrape_collectors& xs);

}  // namespace valmesh
