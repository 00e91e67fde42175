#pragma once

// Reading one HTTP message with Beast's parser, as `beast::http::async_read`
// and `async_read_header` do, without their composed operations: those hold
// a work guard of the executor, wrap every step in `bind_front` handlers,
// and post their completion when the buffer already held the message. Here
// the bytes already buffered are parsed first, then `async_read_some` reads
// until the parser has what was asked for; one handler per read, whose
// state is a few references and the owner that keeps them alive.

#include <cstddef>
#include <cstdint>
#include <utility>

#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/error.hpp>

#include "http/recycled_handler.hpp"

namespace valmesh::web {

/// What a read waits for.
enum class read_until : uint8_t { header, message };

/// Parses what `buffer` holds into `parser`, then reads from `socket` until
/// the parser has the header or the whole message (`until`), and calls
/// `done(ec)`: inline when the buffer already held it, else from a read's
/// completion. `owner` (a shared_ptr) keeps socket, buffer and parser alive
/// while a read is pending. The errors are Beast's: `end_of_stream` when
/// the peer closed before a byte of the message, `partial_message` when it
/// closed in the middle, the parser's own (limits, bad syntax), and the
/// socket's. Set the parser's `eager` as Beast does: true to read a whole
/// message, false to stop after the header.
template <class Socket, class Buffer, class Parser, class Owner, class Done>
void async_read_http(Socket& socket, Buffer& buffer, Parser& parser,
                     read_until until, Owner owner, Done done) {
  namespace bhttp = boost::beast::http;
  auto reached = [&] {
    return until == read_until::header ? parser.is_header_done()
                                       : parser.is_done();
  };
  for (;;) {
    if (reached()) return done(boost::beast::error_code{});
    if (buffer.size() == 0) break;
    boost::beast::error_code ec;
    auto used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == bhttp::error::need_more || (!ec && used == 0)) break;
    if (ec) return done(ec);
  }
  auto size = boost::beast::read_size(buffer, 65536);
  if (size == 0) return done(bhttp::error::buffer_overflow);
  socket.async_read_some(
      buffer.prepare(size),
      recycled([&socket, &buffer, &parser, until, owner = std::move(owner),
                done = std::move(done)](boost::beast::error_code ec,
                                        std::size_t n) mutable {
        buffer.commit(n);
        if (ec == boost::asio::error::eof) {
          if (!parser.got_some()) return done(bhttp::error::end_of_stream);
          ec = {};
          parser.put_eof(ec);
          return done(ec);
        }
        if (ec) return done(ec);
        async_read_http(socket, buffer, parser, until, std::move(owner),
                        std::move(done));
      }));
}

}  // namespace valmesh::web
