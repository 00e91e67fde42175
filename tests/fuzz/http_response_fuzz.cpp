// Upstream responses as the mesh's client reads them (http/upstream.cpp,
// http/client.cpp): Beast's response parser with the response limit, the
// head first, a declared length over the limit refused before the body, the
// limit checked again after the body, then the conversion into the
// client's response (status, headers, body, whether the connection can go
// back to the pool). Input: byte 0 the read piece size, byte 1 bit 0 a
// HEAD request, bit 1 a small limit; the rest is what the upstream sends.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "tests/fuzz/fuzz_stream.hpp"

namespace bhttp = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  bool head = data[1] & 1;
  uint64_t limit = (data[1] & 2) ? 64 : 16 * 1024 * 1024;
  valmesh::fuzz::byte_stream conn{
      {reinterpret_cast<const char*>(data) + 2, size - 2}, data[0]};
  boost::beast::flat_buffer buffer;
  // Keep-alive: the pool reuses a connection for the next call.
  for (int calls = 0; calls < 16; ++calls) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(limit);
    if (head) parser.skip(true);
    boost::beast::error_code ec;
    bhttp::read_header(conn, buffer, parser, ec);
    if (ec) return 0;
    auto length = parser.content_length();
    if (length && *length > limit) return 0;  // too_large
    if (!parser.is_done()) bhttp::read(conn, buffer, parser, ec);
    if (ec) return 0;
    if (parser.get().body().size() > limit) return 0;  // too_large
    auto res = parser.release();
    std::vector<std::pair<std::string, std::string>> headers;
    for (auto& f : res)
      headers.emplace_back(std::string{f.name_string()},
                           std::string{f.value()});
    (void)res.result_int();
    if (!res.keep_alive() || res.need_eof()) return 0;
  }
  return 0;
}
