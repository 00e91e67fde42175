#pragma once

// OTLP/HTTP JSON export (OpenTelemetry protocol, `POST /v1/traces` with
// `Content-Type: application/json`): the encoding of a batch, and the export
// queue's rules (batching, bound, retries with backoff). Plain logic with an
// injected time: the tracer actor drives it and an asio client posts.

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "runtime/common/clock.hpp"
#include "runtime/tracing/span.hpp"

namespace valmesh {

/// Who made the spans: OTLP's resource attributes.
struct otlp_resource {
  std::string service_name = "valmesh";  ///< `service.name`
  std::string instance_id;               ///< `service.instance.id` (node)
  std::string version;                   ///< `service.version`
};

/// Encodes spans as an `ExportTraceServiceRequest` in OTLP's JSON mapping:
/// `resourceSpans[].scopeSpans[].spans[]`, ids as hex, `kind` and status
/// `code` as the enums' integers, 64-bit numbers (times, `intValue`) as
/// strings, attributes as `{key, value: {stringValue|intValue|...}}`.
std::string encode_otlp_json(const std::vector<span_data>& spans,
                             const otlp_resource& resource);

/// Export settings (config `tracing`).
///
/// | key              | default | meaning                                       |
/// |------------------|---------|-----------------------------------------------|
/// | exportBatchSize  | 512     | spans per request; a full batch goes at once  |
/// | exportInterval   | 5s      | a partial batch waits at most this            |
/// | exportQueueSize  | 4096    | spans waiting; past it the oldest are dropped |
/// | exportMaxRetries | 5       | retries of a failed batch, then it is dropped |
/// | exportTimeout    | 10s     | one request's deadline                        |
/// | (retry_delay)    | 200ms   | first wait before a retry, doubling           |
/// | (max_delay)      | 5s      | no wait between retries is longer             |
struct otlp_export_options {
  size_t batch_size = 512;
  std::chrono::milliseconds interval{std::chrono::seconds{5}};
  size_t queue_size = 4096;
  uint32_t max_retries = 5;
  std::chrono::milliseconds timeout{std::chrono::seconds{10}};
  /// Backoff between retries: `retry_delay` × 2^(n-1), at most `max_delay`.
  std::chrono::milliseconds retry_delay{std::chrono::milliseconds{200}};
  std::chrono::milliseconds max_delay{std::chrono::seconds{5}};
};

/// The export figures of `GET /api/tracing/stats`.
struct otlp_export_stats {
  uint64_t exported = 0;        ///< spans the receiver accepted
  uint64_t batches = 0;         ///< requests answered 2xx
  uint64_t failed_batches = 0;  ///< batches given up (retries exhausted)
  uint64_t failed_spans = 0;    ///< their spans
  uint64_t retries = 0;         ///< requests sent again
  uint64_t dropped = 0;         ///< spans dropped because the queue was full
  size_t queued = 0;            ///< spans waiting (in flight included)
  std::string last_error;
};

/// The queue between the span buffer and the receiver: one request in
/// flight at a time, a batch of at most `batch_size` spans, sent when full or
/// when the oldest waiting span is `interval` old; a failed batch is retried
/// after a backoff, and dropped after `max_retries`. Never blocks.
class otlp_export_queue {
 public:
  explicit otlp_export_queue(otlp_export_options opts = {});

  /// Adds finished spans; drops (and counts) the oldest past `queue_size`.
  void add(std::vector<span_data> spans, clock::time_point now);

  /// The batch to send now, if one is due and none is in flight. The
  /// caller posts it and reports with `on_sent`.
  std::optional<std::vector<span_data>> next(clock::time_point now);

  /// The in-flight batch succeeded (`ok`), or failed with `error`;
  /// `retryable` false gives it up at once (a 4xx other than 429).
  void on_sent(bool ok, bool retryable, std::string error,
               clock::time_point now);

  /// When `next` should be asked again (nothing in flight and spans waiting),
  /// if ever.
  std::optional<clock::time_point> wake_at() const;

  /// Makes every span waiting now due at once (graceful shutdown): `next`
  /// stops waiting for a batch to fill or age until the queue is empty.
  /// Retries keep their backoff.
  void flush() noexcept { flushing_ = !waiting_.empty(); }

  /// Nothing waiting, nothing in flight and nothing to retry.
  bool idle() const noexcept { return waiting_.empty() && batch_.empty(); }

  bool in_flight() const noexcept { return in_flight_; }
  const otlp_export_stats& stats() const noexcept { return stats_; }
  const otlp_export_options& options() const noexcept { return opts_; }

 private:
  otlp_export_options opts_;
  std::deque<span_data> waiting_;
  std::optional<clock::time_point> oldest_;  ///< when the oldest arrived
  std::vector<span_data> batch_;             ///< in flight, or to retry
  bool in_flight_ = false;
  uint32_t attempt_ = 0;  ///< failures of `batch_` so far
  std::optional<clock::time_point> retry_at_;
  bool flushing_ = false;  ///< partial batches are due at once
  otlp_export_stats stats_;
};

}  // namespace valmesh
