#pragma once

// The HTTP front end runs one event loop (io_context) per thread, as nginx
// runs workers and Envoy its worker threads: a connection, the upstream
// connections its requests use and their timers all live on one loop, so a
// proxied request never changes threads and needs no strand.

#include <boost/asio/io_context.hpp>

namespace valmesh::web {

/// The concurrency hint of a loop: its handlers are run by one thread, and
/// every socket on it is opened, registered, used and closed by that thread
/// (the server hands accepted connections over as descriptors), so its
/// reactor takes no per-socket lock. Posting to a loop and its timers stay
/// safe from any thread.
inline constexpr int loop_concurrency = BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO;

/// One event loop. Its pending handlers can be destroyed before the loop
/// is: a handler on one loop may hold what lives on another (a
/// connection's session holds the router, the router the mesh, the mesh
/// every loop's upstream connections and timers). Destroying loops one by
/// one would let the handlers of a later one release objects of a loop
/// already gone; so every loop is shut down first, then they are destroyed.
class event_loop : public boost::asio::io_context {
 public:
  using io_context::io_context;

  /// Destroys every handler still pending, as the destructor first does.
  /// Only once no thread runs the loop; harmless to repeat.
  void shutdown() { execution_context::shutdown(); }
};

/// The index of the loop this thread runs, or -1 on any other thread.
int this_thread_loop() noexcept;

/// Marks this thread as the runner of loop `index` (the node does it when
/// it starts a loop's thread).
void set_this_thread_loop(int index) noexcept;

}  // namespace valmesh::web
