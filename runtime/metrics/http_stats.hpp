#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "runtime/metrics/histogram.hpp"

namespace valmesh {

/// One route's answers: counts by status code, and the latency of each
/// request from its last byte read to its answer handed to the socket.
struct http_route_figures {
  /// (status, answers), in order of first appearance: a route answers a
  /// handful of codes, so a short scan beats a map and allocates only when
  /// a code is seen for the first time.
  std::vector<std::pair<uint16_t, uint64_t>> codes;
  latency_histogram latency;

  void count(unsigned status, double seconds);
  void merge(const http_route_figures& o);
};

/// The HTTP front end's figures of one event loop, or of all of them merged.
struct http_figures {
  /// By route slot: slot 0 gathers what matched no route (404, 405, bad
  /// targets, requests rejected while being read); slot i + 1 is route i.
  std::vector<http_route_figures> routes;
  uint64_t accepted = 0;        ///< connections accepted
  uint64_t refused = 0;         ///< connections refused past max_connections
  uint64_t opened = 0;          ///< sessions started on the loop
  uint64_t closed = 0;          ///< sessions ended on the loop
  uint64_t streams_opened = 0;  ///< event streams (SSE) started
  uint64_t streams_closed = 0;  ///< event streams ended
  uint64_t events_dropped = 0;  ///< chunks dropped for slow subscribers

  void merge(const http_figures& o);

  /// Connections open: sessions started and not yet ended.
  uint64_t connections_open() const noexcept {
    return opened > closed ? opened - closed : 0;
  }
  /// Event streams open now (the subscribers of `GET /api/events`).
  uint64_t streams_open() const noexcept {
    return streams_opened > streams_closed ? streams_opened - streams_closed
                                           : 0;
  }
};

/// The HTTP front end's counts of one event loop, as `mesh_stats` keeps the
/// mesh's: only the loop's thread writes them, so counting an answer is a
/// plain add and a short scan (no lock, no atomic shared between loops, no
/// allocation once a route has seen its codes); at scrape time each loop
/// copies its figures out on its own thread and the copies are merged.
class http_stats {
 public:
  /// The route id of requests that matched no route.
  static constexpr uint16_t no_route = 0xFFFF;

  /// Counts one answer of route `route` (or `no_route`).
  void request_finished(uint16_t route, unsigned status, double seconds) {
    size_t slot = route == no_route ? 0 : size_t{route} + 1;
    if (slot >= f_.routes.size()) f_.routes.resize(slot + 1);
    f_.routes[slot].count(status, seconds);
  }

  void connection_accepted() noexcept { ++f_.accepted; }
  void connection_refused() noexcept { ++f_.refused; }
  void session_opened() noexcept { ++f_.opened; }
  void session_closed() noexcept { ++f_.closed; }
  void stream_opened() noexcept { ++f_.streams_opened; }
  void stream_closed() noexcept { ++f_.streams_closed; }
  void event_dropped() noexcept { ++f_.events_dropped; }

  const http_figures& figures() const noexcept { return f_; }

 private:
  http_figures f_;
};

/// Appends the HTTP front end's series (docs/OPERATIONS.md, "The node") in
/// the Prometheus text format 0.0.4: `valmesh_http_requests_total{route,
/// code}`, `valmesh_http_request_duration_seconds{route}`, the connection
/// series, `valmesh_http_responses_total{code}` (by status class, refused
/// connections counted as 5xx) and the event-stream series. `routes` names
/// route i (its pattern, such as `/api/services/:name`).
void write_http_metrics(std::string& out, const http_figures& f,
                        const std::vector<std::string>& routes);

}  // namespace valmesh
