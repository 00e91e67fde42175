#pragma once

// The HTTP front end runs one event loop (io_context) per thread, as nginx
// runs workers and Envoy its worker threads: a connection, the upstream
// connections its requests use and their timers all live on one loop, so a
// proxied request never changes threads and needs no strand.

namespace valmesh::web {

/// The index of the loop this thread runs, or -1 on any other thread.
int this_thread_loop() noexcept;

/// Marks this thread as the runner of loop `index` (the node does it when
/// it starts a loop's thread).
void set_this_thread_loop(int index) noexcept;

}  // namespace valmesh::web
