#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "actors/tracer.hpp"
#include "runtime/tracing/tracer.hpp"

namespace valmesh::web {

/// The node's `span_sink`: spans (packed, runtime/tracing/packed_span.hpp)
/// that end on an HTTP loop gather in that loop's batch, and the loop copies
/// the batch into the tracer's buffer (a `shared_span_buffer`, one lock per
/// batch) once per 10 ms or per 64 spans, whichever comes first; the spans
/// then go straight back to the loop's spare ones, to be recorded into
/// again: no allocation, no message and no other thread per span in the
/// steady state. With OTLP export on, the batch then also goes to the
/// tracer actor (one message per batch, `kept`), which exports it and
/// gives the spans back (`span_returns`). Spans that end on any other
/// thread (the C++ API) are copied in at once, one at a time.
///
/// Without a shared buffer, every batch goes to the tracer actor, which
/// copies it into its own.
class span_batcher final : public span_sink {
 public:
  /// How long spans gather on a loop.
  static constexpr auto flush_period = std::chrono::milliseconds{10};
  /// A batch this large goes at once: small enough that its spans are
  /// still in the core's cache when they are copied.
  static constexpr size_t flush_batch = 64;

  /// `buffer`: the tracer's buffer (null: the tracer actor copies every
  /// batch into its own); `exporting`: whether the tracer actor also gets
  /// every batch, for the OTLP export.
  span_batcher(const std::vector<boost::asio::io_context*>& loops,
               std::function<tracer_actor()> target,
               std::shared_ptr<shared_span_buffer> buffer = nullptr,
               bool exporting = false);
  ~span_batcher() override;

  void submit(packed_span&& s) override;
  /// On a loop: a span the tracer gave back, to record into.
  packed_span fresh() override;

  /// Sends every loop's gathered spans to the tracer now (graceful
  /// shutdown) and waits until each loop has done so, at most `timeout`.
  /// Returns false when a loop did not answer in time. The loops must be
  /// running.
  bool flush(std::chrono::milliseconds timeout);

  struct loop_batch;

 private:
  std::function<tracer_actor()> target_;
  std::shared_ptr<shared_span_buffer> buffer_;
  /// Whether spans also go to the tracer actor: to be kept (no shared
  /// buffer) or exported.
  bool to_tracer_ = true;
  std::vector<std::unique_ptr<loop_batch>> loops_;
};

}  // namespace valmesh::web
