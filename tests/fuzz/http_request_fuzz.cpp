// HTTP requests as the server reads them (http/server.cpp): Beast's request
// parser with the server's limits (prepare_parser) and the server's verdict
// on each read (judge_read), over a connection's bytes: pipelined requests,
// chunked bodies, limits, split anywhere. Input: byte 0 picks the read
// piece size, byte 1 small or default limits; the rest is the connection.
//
// And the server's reader of common requests (read_simple_request) against
// Beast's parser: every request it takes from the connection's bytes,
// Beast's parser must take too, from the same bytes, with the same bytes
// used and the same method, target, version, fields and body.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>

#include "http/server.hpp"
#include "tests/fuzz/fuzz_stream.hpp"

using namespace valmesh;
using namespace valmesh::web;

namespace {

/// Aborts unless Beast's parser reads `bytes` as `simple`, using `used`.
void same_as_beast(std::string_view bytes, size_t used, const request& simple,
                   const server_options& options) {
  request_parser parser;
  prepare_parser(parser, options);
  boost::beast::error_code ec;
  auto taken = fuzz::put_whole(parser, bytes, ec);
  if (ec || !parser.is_done() || taken != used) std::abort();
  auto verdict = judge_read(ec, parser, options);
  if (verdict.what != read_verdict::serve) std::abort();
  auto& beast = parser.get();
  if (beast.method() != simple.method() ||
      beast.method_string() != simple.method_string() ||
      beast.target() != simple.target() ||
      beast.version() != simple.version() || beast.body() != simple.body() ||
      beast.keep_alive() != simple.keep_alive())
    std::abort();
  auto a = beast.begin();
  auto b = simple.begin();
  for (; a != beast.end() && b != simple.end(); ++a, ++b)
    if (a->name() != b->name() || a->name_string() != b->name_string() ||
        a->value() != b->value())
      std::abort();
  if (a != beast.end() || b != simple.end()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  server_options options;
  if (data[1] & 1) {
    options.body_limit = 64;
    options.header_limit = 256;
  }
  // The common-request reader over the whole connection, request after
  // request, as the session takes what is buffered.
  std::string_view rest{reinterpret_cast<const char*>(data) + 2, size - 2};
  for (int served = 0; served < 64 && !rest.empty(); ++served) {
    request simple;
    auto used = read_simple_request(rest, options, simple);
    if (used == 0) break;
    if (used > rest.size()) std::abort();
    same_as_beast(rest, used, simple, options);
    rest.remove_prefix(used);
  }
  fuzz::byte_stream conn{{reinterpret_cast<const char*>(data) + 2, size - 2},
                         data[0]};
  boost::beast::flat_buffer buffer;
  // The session's loop: read a request, judge it, serve it and read the
  // next (keep-alive), or stop.
  for (int served = 0; served < 64; ++served) {
    request_parser parser;
    prepare_parser(parser, options);
    boost::beast::error_code ec;
    beast_http::read(conn, buffer, parser, ec);
    if (ec == beast_http::error::end_of_stream) return 0;
    auto verdict = judge_read(ec, parser, options);
    if (verdict.what == read_verdict::reject) {
      if (verdict.error.message.empty()) std::abort();
      (void)make_error_response(verdict.error, 11);
      return 0;
    }
    if (verdict.what == read_verdict::close) return 0;
    auto req = parser.release();
    if (req.body().size() > options.body_limit) std::abort();
    // What the session and the router read of a request.
    (void)req.keep_alive();
    (void)req.method();
    (void)req.target();
    (void)req.version();
    if (!req.keep_alive()) return 0;
  }
  return 0;
}
