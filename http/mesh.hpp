#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/beast/http/verb.hpp>

#include "actors/mesh_directory.hpp"
#include "actors/mesh_supervisor.hpp"
#include "http/headers.hpp"
#include "http/loops.hpp"
#include "http/upstream.hpp"
#include "runtime/common/clock.hpp"
#include "runtime/common/error.hpp"
#include "runtime/common/inline_function.hpp"
#include "runtime/mesh/mesh_policy.hpp"
#include "runtime/metrics/mesh_stats.hpp"
#include "runtime/tracing/tracer.hpp"

namespace valmesh::web {

/// One call through the mesh (docs/API.md): what `/proxy/:name/*`,
/// `POST /api/call` and `node::call_service` hand to the caller.
struct mesh_request {
  std::string service;
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string target = "/";  ///< path and query, as sent upstream
  header_list headers;       ///< the client's; hop-by-hop ones are dropped
  std::string body;
  std::string correlation_id;  ///< empty: taken from headers or generated
  std::string client_addr;     ///< appended to X-Forwarded-For
  /// Changes to the service's policy (headers or JSON fields).
  call_overrides overrides;
  /// The route that took the request (`/proxy/:name/*`, `/api/call`): the
  /// call is a server span; empty (the C++ API) makes it an internal one.
  /// Its parent is the `traceparent` in `headers`, if valid. A pattern of
  /// the code's routes: static storage, never a request's bytes.
  std::string_view route;
};

/// What became of it: the upstream's answer, or the mesh's own failure
/// (502, 503, 504), with the attempts made either way.
struct mesh_result {
  std::optional<failure> error;
  unsigned status = 0;
  header_list headers;  ///< hop-by-hop ones already dropped
  std::string body;
  uint32_t attempts = 0;
  std::string instance;  ///< the instance that answered (or failed last)
  std::string correlation_id;
  std::chrono::microseconds duration{0};
};

/// The mesh's call path on asio: bulkhead permit and instance choice from
/// `bulkhead/<service>`, the upstream exchange on a pooled keep-alive
/// connection, the outcome to the instance's breaker, retries with backoff
/// on asio timers within the overall deadline. Never blocks a thread.
class mesh_caller {
 public:
  using callback = inline_function<void(mesh_result&&)>;

  /// `loops`: the HTTP front end's event loops, each run by one thread; a
  /// call runs on the loop of the thread that starts it, with that loop's
  /// upstream connections (no handoff between threads). `via_actor`: every
  /// acquire and release is a message to the bulkhead actor (config
  /// `mesh_dispatch: "actor"`) instead of a call on its gate.
  mesh_caller(const std::vector<boost::asio::io_context*>& loops,
              const mesh_directory& bulkheads, mesh_policies policies,
              upstream_options upstream, std::shared_ptr<const clock> time,
              std::function<mesh_supervisor_actor()> supervisor,
              bool via_actor = false);
  ~mesh_caller();

  /// Starts a call; `done` runs once, on an I/O thread.
  void call(mesh_request&& req, callback done);

  /// Records a span per call and per upstream attempt with `t`, and sends
  /// each attempt's context upstream (W3C). Without a tracer (tracing
  /// off) trace headers pass through untouched. Set before the first call.
  void set_tracer(std::shared_ptr<tracer> t);

  /// Turns the mesh's metrics (`GET /metrics`, `GET /api/stats`) on or off;
  /// on by default. Set before the first call.
  void set_metrics(bool on);

  /// Whether `(service, nullptr)` or `(service, &instance)` still exists.
  using live_fn = std::function<bool(const std::string&, const std::string*)>;
  using gather_fn = std::function<void(mesh_figures, uint64_t)>;

  /// Gathers the mesh's counts from every loop, each on its own thread,
  /// with the totals of the last `window` seconds (0: none), first dropping
  /// the services and instances that `live` (if set) says are gone. `done`
  /// gets the merged figures and the upstream connections open, on one of
  /// the loops' threads.
  void gather(int64_t window, live_fn live, gather_fn done);

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

/// Returns a new correlation id (16 random bytes, lower-case hex).
std::string make_correlation_id();

}  // namespace valmesh::web
