#include "actors/tracer.hpp"

#include <optional>

namespace valmesh {

namespace {

struct tracer_state {
  static inline const char* name = "tracer";
  std::shared_ptr<shared_span_buffer> buffer;
  std::unique_ptr<otlp_export_queue> queue;  ///< null: no export
  tracer_options opts;
  /// When the export timer fires next, if it is set.
  std::optional<clock::time_point> tick_at;
  /// Flushes waiting for the export queue to empty.
  std::vector<caf::typed_response_promise<tracing_stats>> flushes;

  tracing_stats stats() const {
    tracing_stats s;
    s.buffer = buffer->stats();
    s.export_enabled = queue != nullptr;
    if (queue) s.exporter = queue->stats();
    return s;
  }
};

using tracer_pointer = metered_pointer<tracer_actor, tracer_state>;

/// Sends the batch that is due, if any, and sets the timer for the next.
void pump(tracer_pointer self) {
  auto& st = self->state;
  if (!st.queue) return;
  auto now = st.opts.time->now();
  if (auto batch = st.queue->next(now)) {
    auto body = encode_otlp_json(*batch, st.opts.resource);
    auto me = caf::actor_cast<tracer_actor>(self);
    st.opts.post(std::move(body), [me](bool ok, bool retryable,
                                       std::string error) {
      caf::anon_send(me, exported_atom::value, ok, retryable, std::move(error));
    });
  }
  auto wake = st.queue->wake_at();
  if (!wake || (st.tick_at && *st.tick_at <= *wake)) return;
  st.tick_at = *wake;
  auto delay = std::max(clock::time_point::duration{0}, *wake - now);
  self->delayed_send(self, delay, tick_atom::value);
}

tracer_actor::behavior_type tracer_impl(tracer_pointer self,
                                        tracer_options opts) {
  auto& st = self->state;
  st.opts = std::move(opts);
  if (!st.opts.time) st.opts.time = std::make_shared<system_clock_source>();
  st.buffer = st.opts.buffer
                  ? st.opts.buffer
                  : std::make_shared<shared_span_buffer>(st.opts.capacity);
  if (st.opts.post)
    st.queue = std::make_unique<otlp_export_queue>(st.opts.exporter);
  return {
      [self](inspect_atom) { return self->figures("tracer"); },
      [self](spans_atom, packed_batch& batch) {
        auto& st = self->state;
        if (st.queue) {
          span_batch out;
          out.reserve(batch.spans.size());
          for (auto& s : batch.spans) out.push_back(s.unpack());
          st.queue->add(std::move(out), st.opts.time->now());
          pump(self);
        }
        // The buffer keeps a copy (unless the sender put them in); the
        // spans go back to the thread that sent them, to be recorded into
        // again.
        if (!batch.kept) st.buffer->push(batch.spans);
        if (batch.origin) batch.origin->give_back(std::move(batch.spans));
      },
      [self](get_atom, const span_query& q) {
        return self->state.buffer->query(q);
      },
      [self](stats_atom) { return self->state.stats(); },
      [self](flush_atom) -> caf::result<tracing_stats> {
        auto& st = self->state;
        if (!st.queue || st.queue->idle()) return st.stats();
        st.queue->flush();
        pump(self);
        st.flushes.push_back(self->make_response_promise<tracing_stats>());
        return st.flushes.back();
      },
      [self](tick_atom) {
        self->state.tick_at.reset();
        pump(self);
      },
      [self](exported_atom, bool ok, bool retryable, std::string& error) {
        auto& st = self->state;
        if (!st.queue) return;
        st.queue->on_sent(ok, retryable, std::move(error), st.opts.time->now());
        pump(self);
        if (st.queue->idle() && !st.flushes.empty()) {
          for (auto& p : st.flushes) p.deliver(st.stats());
          st.flushes.clear();
        }
      },
  };
}

}  // namespace

tracer_actor spawn_tracer(caf::actor_system& sys, tracer_options opts) {
  return sys.spawn(tracer_impl, std::move(opts));
}

}  // namespace valmesh
