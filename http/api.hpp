#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include <caf/all.hpp>

#include "actors/bridge.hpp"
#include "actors/directory.hpp"
#include "actors/ownership.hpp"
#include "http/api_util.hpp"
#include "http/long_poll.hpp"
#include "http/router.hpp"
#include "runtime/metrics/metrics.hpp"
#include "runtime/metrics/node_metrics.hpp"
#include "runtime/tracing/tracer.hpp"

namespace valmesh::web {

/// What the API handlers need from the node.
struct api_context {
  const directory* actors = nullptr;  ///< current actor handles
  std::string token;                  ///< empty: no auth on mutations
  std::string node_name;
  std::string http_addr;
  std::string cluster_addr;
  /// How long a handler waits for an actor before answering 503.
  std::chrono::milliseconds actor_timeout{std::chrono::seconds{5}};
  /// How long `GET /api/actors` waits for each actor before it shows it as
  /// unresponsive.
  std::chrono::milliseconds inspect_timeout{std::chrono::milliseconds{250}};
  /// `--enable-fault-injection`: the debug endpoints exist.
  bool fault_injection = false;
  /// Set by the node when a graceful shutdown begins: `/health` answers
  /// 503 "draining" so that load balancers stop sending.
  const std::atomic<bool>* draining = nullptr;
  /// The node's metrics, exposed at `GET /metrics`.
  std::shared_ptr<metrics> meter;
  /// Which member checks which instance (`checkedBy`); null: this node.
  std::shared_ptr<const ownership> owners;
  /// Blocking queries on `GET /api/services[/:name]` (`index`, `wait`).
  long_poll_context long_poll;
  /// The mesh's call path, whose counts `GET /metrics` and `GET /api/stats`
  /// gather; null: no mesh series.
  std::shared_ptr<class mesh_caller> mesh;
  /// The node's tracer, whose span counts `GET /metrics` shows; null when
  /// tracing is off.
  std::shared_ptr<const tracer> tracing;
  /// The HTTP front end's per-loop counts (`valmesh_http_*`,
  /// `valmesh_events_*`); may be null.
  std::shared_ptr<front_end_stats> front_end;
  /// The catalog's changes made here (`valmesh_registry_*`); may be null.
  std::shared_ptr<const registry_counters> registry_counts;
  /// Event streams open at once (`events_max_streams`); one more gets 503.
  uint32_t max_event_streams = 1024;
  /// Event streams open now (shared by the loops).
  std::shared_ptr<std::atomic<int64_t>> event_streams =
      std::make_shared<std::atomic<int64_t>>(0);
};

/// Sends `args...` to `target` from the bridge; calls `on_ok(result)` with
/// the typed answer, or `on_error(failure)`: the mapped error, or
/// `unavailable` when there is no actor to ask (restarting). Never blocks
/// the caller. `Ctx` is any handler context with `actors` and
/// `actor_timeout`.
template <class R, class Ctx, class Handle, class OnOk, class OnError,
          class... Ts>
void ask_or(const std::shared_ptr<const Ctx>& ctx, Handle target, OnOk on_ok,
            OnError on_error, Ts... args) {
  auto bridge = ctx->actors->bridge();
  if (!target || !bridge)
    return on_error(
        failure{errc::unavailable, "the node is restarting; retry"});
  auto timeout = ctx->actor_timeout;
  caf::anon_send(bridge, bridge_job{[target, timeout, on_ok, on_error, args...](
                                        caf::event_based_actor* self) mutable {
                   self->request(target, timeout, std::move(args)...)
                       .then([on_ok](R& result) mutable { on_ok(result); },
                             [on_error](caf::error& err) mutable {
                               on_error(to_failure(err));
                             });
                 }});
}

/// `ask_or` for an answer that needs this part: calls `on_ok(result, done)`,
/// or answers `done` with the error ("the <what> is restarting" when there
/// is no actor to ask).
template <class R, class Ctx, class Handle, class OnOk, class... Ts>
void ask(const std::shared_ptr<const Ctx>& ctx, Handle target, const char* what,
         responder done, OnOk on_ok, Ts... args) {
  if (!target || !ctx->actors->bridge())
    return reply_error(done, {errc::unavailable, std::string{"the "} + what +
                                                     " is restarting; retry"});
  ask_or<R>(
      ctx, std::move(target),
      [done, on_ok](R& result) mutable { on_ok(result, done); },
      [done](const failure& f) { reply_error(done, f); }, std::move(args)...);
}

/// Adds the registry, discovery and node endpoints (docs/API.md) to `r`.
void install_api(router& r, std::shared_ptr<const api_context> ctx);

/// Checks `Authorization: Bearer <token>` in constant time. Returns the
/// failure to answer (401 missing, 403 wrong), or nothing when allowed.
std::optional<failure> check_token(const request& req,
                                   const std::string& token);

}  // namespace valmesh::web
