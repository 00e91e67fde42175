#pragma once

// Blocking queries (Consul's long-poll) for the HTTP handlers: a read that
// answers at once when what it reads changed since the index the client
// saw, or else is held until it changes or its wait runs out. A held query
// is a timer on the connection's event loop and an entry in a
// `watch_index`: no thread, no actor waits for it.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "runtime/consul/watch_index.hpp"

namespace valmesh::web {

/// Where held queries live: the HTTP loops (a held query's timer runs on
/// the loop of its connection), the index of what they watch, and how many
/// are held at once (`max_blocking_queries`; the count is shared by the
/// native and the Consul API).
struct long_poll_context {
  std::vector<boost::asio::io_context*> loops;
  std::shared_ptr<watch_index> watches;
  uint32_t max_held = 4096;
  std::shared_ptr<std::atomic<int64_t>> held =
      std::make_shared<std::atomic<int64_t>>(0);
};

/// Calls `read(index)` with `key`'s index: now if `seen` is 0 or older
/// than it, else once the key changes or `wait` (plus up to wait/16 of
/// jitter) passes, on the current thread's loop. `read` answers the
/// request; it is called exactly once, unless this returns false: the
/// query would have to be held and `max_held` queries already are, so
/// `read` is not called and the caller refuses the request.
[[nodiscard]] bool read_when_changed(const long_poll_context& lp,
                                     const std::string& key, uint64_t seen,
                                     std::chrono::milliseconds wait,
                                     std::function<void(uint64_t index)> read);

/// The keys of a `watch_index` that the catalog's changes bump.
namespace watch_keys {
/// Any change of the service `name`'s instances (Consul's per-service index).
inline std::string service(const std::string& name) {
  return "svc/" + name;
}
/// Any change of any instance (`GET /api/services` shows counts).
inline const std::string all = "all";
/// A service or an instance appears, disappears or is updated (Consul's
/// `/v1/catalog/services`: names and tags).
inline const std::string catalog = "catalog";
}  // namespace watch_keys

}  // namespace valmesh::web
