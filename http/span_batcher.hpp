#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "actors/tracer.hpp"
#include "runtime/tracing/tracer.hpp"

namespace valmesh::web {

/// The node's `span_sink`: spans (packed, runtime/tracing/packed_span.hpp) that end
/// on an HTTP loop gather in that loop's batch and go to the tracer actor in
/// one message per 10 ms or per 256 spans, whichever comes first (as
/// successful calls' breaker outcomes do in http/mesh.cpp, where a failure
/// goes within a millisecond: each message wakes an actor thread); spans that
/// end on any other thread (the C++ API) go at once, one message each.
/// The tracer copies the spans into its buffer and gives each loop its
/// batches back, and the loop's next spans record into them
/// (`span_returns`): no allocation per span in the steady state.
class span_batcher final : public span_sink {
 public:
  /// How long spans gather on a loop.
  static constexpr auto flush_period = std::chrono::milliseconds{10};
  /// A batch this large goes at once.
  static constexpr size_t flush_batch = 256;

  span_batcher(const std::vector<boost::asio::io_context*>& loops,
               std::function<tracer_actor()> target);
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
  std::vector<std::unique_ptr<loop_batch>> loops_;
};

}  // namespace valmesh::web
