#include "http/tracing_api.hpp"

#include "actors/bridge.hpp"
#include "actors/tracer.hpp"
#include "http/api.hpp"
#include "http/api_util.hpp"
#include "runtime/registry/service_instance.hpp"

namespace valmesh::web {

namespace {

using verb = beast_http::verb;
using ctx_ptr = std::shared_ptr<const tracing_api_context>;

/// Asks the tracer actor through the bridge; answers 503 if it is away.
template <class R, class OnOk, class... Ts>
void ask_tracer(const ctx_ptr& ctx, responder done, OnOk on_ok, Ts... args) {
  ask<R>(ctx, ctx->actors->tracer(), "tracer", std::move(done),
         std::move(on_ok), std::move(args)...);
}

void stats(const ctx_ptr& ctx, request_context&&, responder done) {
  ask_tracer<tracing_stats>(
      ctx, std::move(done),
      [ctx](tracing_stats& s, const responder& done) {
        tracer_stats started;
        if (ctx->spans) started = ctx->spans->stats();
        auto& e = s.exporter;
        json exporter = {
            {"enabled", s.export_enabled},
            {"endpoint", ctx->otlp_endpoint},
            {"exportedSpans", e.exported},
            {"exportedBatches", e.batches},
            {"failedBatches", e.failed_batches},
            {"failedSpans", e.failed_spans},
            {"retries", e.retries},
            {"droppedSpans", e.dropped},
            {"queuedSpans", e.queued},
            {"lastError",
             e.last_error.empty() ? json(nullptr) : json(e.last_error)}};
        reply_json(done, 200,
                   {{"enabled", ctx->spans != nullptr},
                    {"sampler", ctx->sampler},
                    {"spansStarted", started.started},
                    {"spansSampled", started.sampled},
                    {"spansFinished", s.buffer.finished},
                    {"spansDropped", s.buffer.dropped},
                    {"bufferCapacity", s.buffer.capacity},
                    {"bufferSize", s.buffer.size},
                    {"export", std::move(exporter)}});
      },
      stats_atom::value);
}

void spans(const ctx_ptr& ctx, request_context&& rc, responder done) {
  auto q = parse_span_query(rc);
  if (!q) return reply_error(done, q.error());
  ask_tracer<span_batch>(
      ctx, std::move(done),
      [](span_batch& xs, const responder& done) {
        auto arr = json::array();
        for (auto& s : xs) arr.push_back(to_json(s));
        reply_json(done, 200, {{"spans", std::move(arr)}});
      },
      get_atom::value, std::move(*q));
}

}  // namespace

expected<span_query> parse_span_query(const request_context& rc) {
  auto bad = [](std::string m) {
    return failure{errc::invalid_argument, std::move(m)};
  };
  span_query q;
  if (auto l = rc.query("limit")) {
    uint64_t n = 0;
    bool ok = !l->empty() && l->size() <= 7;
    for (char c : *l) {
      ok = ok && c >= '0' && c <= '9';
      n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    if (!ok || n < 1 || n > 100'000)
      return bad("'limit' must be a whole number from 1 to 100000, not '" + *l +
                 "'");
    q.limit = static_cast<size_t>(n);
  }
  if (auto t = rc.query("traceId")) {
    auto id = trace_id::from_hex(*t, false);
    if (!id)
      return bad("'traceId' must be 32 hex digits (not all zero), not '" + *t +
                 "'");
    q.trace = *id;
  }
  if (auto s = rc.query("service")) {
    if (!valid_service_name(*s))
      return bad("'service' is not a service name: '" + *s + "'");
    q.service = *s;
  }
  return q;
}

void install_tracing_api(router& r,
                         std::shared_ptr<const tracing_api_context> ctx) {
  r.add(verb::get, "/api/tracing/stats",
        [ctx](request_context&& rc, responder done) {
          stats(ctx, std::move(rc), std::move(done));
        });
  r.add(verb::get, "/api/tracing/spans",
        [ctx](request_context&& rc, responder done) {
          spans(ctx, std::move(rc), std::move(done));
        });
}

}  // namespace valmesh::web
