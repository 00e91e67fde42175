#include "runtime/metrics/metrics.hpp"

#include <prometheus/text_serializer.h>

namespace valmesh {

namespace {

using prometheus::BuildCounter;
using prometheus::BuildHistogram;

/// Seconds: 100 µs to 10 s.
const prometheus::Histogram::BucketBoundaries& fine_buckets() {
  static const prometheus::Histogram::BucketBoundaries b{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
  return b;
}

/// Seconds: 1 ms to 10 s.
const prometheus::Histogram::BucketBoundaries& latency_buckets() {
  static const prometheus::Histogram::BucketBoundaries b{
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return b;
}

}  // namespace

metrics::metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      checks_(BuildCounter()
                  .Name("valmesh_health_checks_total")
                  .Help("Active health checks, by service and result")
                  .Register(*registry_)),
      check_duration_(BuildHistogram()
                          .Name("valmesh_health_check_duration_seconds")
                          .Help("Duration of active health checks")
                          .Register(*registry_)),
      transitions_(BuildCounter()
                       .Name("valmesh_breaker_transitions_total")
                       .Help("Circuit breaker transitions, by target state")
                       .Register(*registry_)) {
  auto& members = prometheus::BuildGauge()
                      .Name("valmesh_cluster_members")
                      .Help("Cluster members by status, as this node sees them")
                      .Register(*registry_);
  static constexpr const char* statuses[] = {"alive", "suspect", "dead",
                                             "left"};
  for (size_t i = 0; i < members_.size(); ++i)
    members_[i] = &members.Add({{"status", statuses[i]}});
  auto& messages = BuildCounter()
                       .Name("valmesh_replication_messages_total")
                       .Help("Messages of replicated writes, by direction")
                       .Register(*registry_);
  auto& entries = BuildCounter()
                      .Name("valmesh_replication_entries_total")
                      .Help("Replicated writes (entries), by direction")
                      .Register(*registry_);
  auto& bytes =
      BuildCounter()
          .Name("valmesh_replication_bytes_total")
          .Help("Bytes of replicated writes on the wire, by direction")
          .Register(*registry_);
  static constexpr const char* directions[] = {"in", "out"};
  for (size_t i = 0; i < 2; ++i) {
    repl_messages_[i] = &messages.Add({{"direction", directions[i]}});
    repl_entries_[i] = &entries.Add({{"direction", directions[i]}});
    repl_bytes_[i] = &bytes.Add({{"direction", directions[i]}});
  }
  ae_rounds_ = &BuildCounter()
                    .Name("valmesh_anti_entropy_rounds_total")
                    .Help("Anti-entropy rounds this node started")
                    .Register(*registry_)
                    .Add({});
  ae_entries_ = &BuildCounter()
                     .Name("valmesh_anti_entropy_entries_total")
                     .Help("Entries received in anti-entropy rounds")
                     .Register(*registry_)
                     .Add({});
  repl_lag_ = &BuildHistogram()
                   .Name("valmesh_replication_lag_seconds")
                   .Help(
                       "Time from a replicated write's version to its apply "
                       "on this node")
                   .Register(*registry_)
                   .Add({}, latency_buckets());
  check_lateness_ =
      &BuildHistogram()
           .Name("valmesh_health_check_lateness_seconds")
           .Help("Time from a health check's scheduled start to its start")
           .Register(*registry_)
           .Add({}, fine_buckets());
  store_appends_ = &BuildCounter()
                        .Name("valmesh_store_appends_total")
                        .Help("Catalog mutations appended to the store")
                        .Register(*registry_)
                        .Add({});
  store_fsync_ = &BuildHistogram()
                      .Name("valmesh_store_fsync_duration_seconds")
                      .Help(
                          "Duration of the store's group commits (one fsync "
                          "of the log each)")
                      .Register(*registry_)
                      .Add({}, fine_buckets());
  store_compactions_ =
      &BuildCounter()
           .Name("valmesh_store_compactions_total")
           .Help("Compactions of the store (snapshots written)")
           .Register(*registry_)
           .Add({});
  store_bytes_ = &prometheus::BuildGauge()
                      .Name("valmesh_store_bytes")
                      .Help(
                          "Bytes of the data dir's log and snapshot (0 "
                          "with --dev)")
                      .Register(*registry_)
                      .Add({});
}

void metrics::store_synced(size_t appends, double seconds) noexcept {
  store_appends_->Increment(static_cast<double>(appends));
  store_fsync_->Observe(seconds);
}

void metrics::store_compacted() noexcept {
  store_compactions_->Increment();
}

void metrics::store_bytes(uint64_t bytes) noexcept {
  store_bytes_->Set(static_cast<double>(bytes));
}

void metrics::health_check_lateness(double seconds) noexcept {
  check_lateness_->Observe(seconds);
}

void metrics::cluster_members(size_t alive, size_t suspect, size_t dead,
                              size_t left) noexcept {
  size_t xs[] = {alive, suspect, dead, left};
  for (size_t i = 0; i < members_.size(); ++i)
    members_[i]->Set(static_cast<double>(xs[i]));
}

void metrics::replication(bool out, size_t entries, size_t bytes) noexcept {
  auto i = out ? 1 : 0;
  repl_messages_[i]->Increment();
  repl_entries_[i]->Increment(static_cast<double>(entries));
  repl_bytes_[i]->Increment(static_cast<double>(bytes));
}

void metrics::anti_entropy(size_t entries) noexcept {
  ae_rounds_->Increment();
  ae_entries_->Increment(static_cast<double>(entries));
}

void metrics::replication_lag(double seconds) noexcept {
  repl_lag_->Observe(seconds);
}

std::string metrics::expose() const {
  prometheus::TextSerializer text;
  return text.Serialize(registry_->Collect());
}

metrics::service_series& metrics::series(const std::string& service) {
  auto [i, fresh] = services_.try_emplace(service);
  if (fresh) {
    auto& s = i->second;
    s.check_duration =
        &check_duration_.Add({{"service", service}}, latency_buckets());
  }
  return i->second;
}

prometheus::Counter& metrics::labelled(
    service_series& s, prometheus::Family<prometheus::Counter>& f,
    const std::string& service, const char* label_name,
    std::string_view value) {
  std::string key{label_name};
  key.append(1, '=').append(value);
  auto i = s.by_label.find(key);
  if (i == s.by_label.end())
    i = s.by_label
            .emplace(std::move(key), &f.Add({{"service", service},
                                             {label_name, std::string{value}}}))
            .first;
  return *i->second;
}

void metrics::health_check(const std::string& service, std::string_view result,
                           double seconds) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& s = series(service);
  labelled(s, checks_, service, "result", result).Increment();
  s.check_duration->Observe(seconds);
}

void metrics::breaker_transition(const std::string& service,
                                 std::string_view to) {
  std::lock_guard<std::mutex> guard{mtx_};
  labelled(series(service), transitions_, service, "to", to).Increment();
}

}  // namespace valmesh
