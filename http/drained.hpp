#pragma once

// Reads that do not try a `recv` they can tell will find nothing.
//
// Asio starts every `async_read_some` with a speculative `recv`, and only
// when that finds nothing (EAGAIN) does the read wait for the reactor to
// report the socket readable. In a request/response exchange the next read
// usually starts before the peer has answered: the `recv` is wasted, one
// system call per read. HAProxy keeps a flag per connection instead: a read
// that returns less than it asked for has emptied the socket, so the next
// read waits for readiness first. Asio 1.74 has the same flag (its epoll
// reactor's `try_speculative_`, set again by every readiness event), but
// clears it only when a read returns 0 bytes.
//
// `drain_tracker` clears it after a short read. That is safe only where no
// readiness event can have been taken between the `recv` and the clearing,
// or the read would wait for an event that already came: so it does so only
// for a read that waited for the reactor, whose handler the reactor calls
// right after the `recv` it made (the first handler of a readiness event is
// called inline, before the loop polls again). A read that completed at once
// (the speculative `recv` found data) is left as Asio leaves it. Each socket
// must be served by one thread (one io_context per loop thread), as all of
// valmesh's are. Without Asio's epoll reactor the tracker does nothing.

#include <cstddef>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace valmesh::web {

/// The sockets of the event loops.
using loop_tcp_socket =
    boost::asio::basic_stream_socket<boost::asio::ip::tcp,
                                     boost::asio::io_context::executor_type>;

/// Whether a read started on `s` is waiting for the reactor (call right
/// after starting it: its handler has not run yet).
bool read_is_waiting(loop_tcp_socket& s) noexcept;

/// Makes the next read of `s` wait for readiness without a first `recv`,
/// until the reactor reports `s` readable again.
void skip_next_speculative_read(loop_tcp_socket& s) noexcept;

/// Whether the two functions above act (Asio's epoll reactor); else they
/// do nothing and every read starts with a `recv`, as Asio's do.
bool drained_reads_supported() noexcept;

/// Follows the reads of one socket: after a read that waited for the
/// reactor and returned less than it asked for, the next read skips its
/// speculative `recv`.
class drain_tracker {
 public:
  /// Call right after starting `async_read_some` on `s`, asking `asked`
  /// bytes.
  void started(loop_tcp_socket& s, size_t asked) noexcept {
    asked_ = asked;
    waited_ = read_is_waiting(s);
  }

  /// Call first in that read's handler, with the bytes it read.
  void finished(loop_tcp_socket& s, size_t n) noexcept {
    if (waited_ && n > 0 && n < asked_) skip_next_speculative_read(s);
    waited_ = false;
  }

 private:
  size_t asked_ = 0;
  bool waited_ = false;
};

}  // namespace valmesh::web
