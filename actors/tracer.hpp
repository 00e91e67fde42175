#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/introspection.hpp"

#include "actors/protocol.hpp"
#include "runtime/common/clock.hpp"
#include "runtime/tracing/otlp.hpp"
#include "runtime/tracing/span_buffer.hpp"

namespace valmesh {

/// Finished spans as the spans endpoint gets them. Node-local. (They
/// travel to the tracer packed, as a `packed_batch`: a batch per HTTP loop
/// and flush.)
using span_batch = std::vector<span_data>;

/// The tracer actor's figures, for `GET /api/tracing/stats`. Node-local.
struct tracing_stats {
  span_buffer_stats buffer;
  bool export_enabled = false;
  otlp_export_stats exporter;
};

/// How an export is answered: `ok`, or whether the failure is `retryable`
/// and why. May be called from any thread.
using otlp_done_fn =
    std::function<void(bool ok, bool retryable, std::string error)>;

/// Posts one OTLP JSON body to the receiver without blocking; calls `done`
/// once when the exchange is over.
using otlp_post_fn = std::function<void(std::string body, otlp_done_fn done)>;

/// The node's finished-span buffer, its figures and the OTLP exporter.
using tracer_actor = caf::typed_actor<
    inspectable,
    /// Adds finished spans to the buffer (unless the batch is `kept`) and
    /// the export queue.
    caf::reacts_to<spans_atom, packed_batch>,
    /// Answers the spans that match, newest first.
    caf::replies_to<get_atom, span_query>::with<span_batch>,
    /// Answers the buffer's and the exporter's figures.
    caf::replies_to<stats_atom>::with<tracing_stats>,
    /// Graceful shutdown: sends every span waiting for export without
    /// waiting for a batch to fill or age, and answers the figures once the
    /// export queue is empty (at once without export). The caller bounds the
    /// wait.
    caf::replies_to<flush_atom>::with<tracing_stats>,
    /// The export timer (sent to itself).
    caf::reacts_to<tick_atom>,
    /// The outcome of the export in flight: ok, retryable, error.
    caf::reacts_to<exported_atom, bool, bool, std::string>>;

/// Options of the tracer actor.
///
/// | name     | default                   | meaning                                        |
/// |----------|---------------------------|------------------------------------------------|
/// | capacity | 10000                     | finished spans kept (`tracing.bufferCapacity`) |
/// | buffer   | none                      | the buffer, shared with the HTTP loops (none: its own of `capacity`) |
/// | post     | none                      | the OTLP client; none: no export               |
/// | exporter | see `otlp_export_options` | batching, queue bound and retries              |
/// | resource | service.name "valmesh"    | `service.name` etc. of the exported spans      |
/// | time     | none                      | the clock (none: the system clock)             |
struct tracer_options {
  size_t capacity = span_buffer::default_capacity;
  std::shared_ptr<shared_span_buffer> buffer;
  otlp_post_fn post;
  otlp_export_options exporter;
  otlp_resource resource;
  std::shared_ptr<const clock> time;
};

/// Spawns the tracer. Spans reach it in batches (one-way sends); the
/// export runs on the caller's asio client through `post`, never in the
/// actor's thread.
tracer_actor spawn_tracer(caf::actor_system& sys, tracer_options opts);

}  // namespace valmesh

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(valmesh::span_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(valmesh::packed_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(valmesh::span_query)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(valmesh::tracing_stats)
