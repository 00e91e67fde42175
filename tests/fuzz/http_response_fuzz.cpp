// Upstream responses as the mesh's clients read them, two ways over the same
// bytes, which must agree: the upstream exchange's `response_reader`
// (http/response_reader.hpp, http/upstream.cpp) and Beast's response parser
// as the blocking client reads with it (http/client.cpp). Each reads with
// the response limit, the head first, a declared length over the limit
// refused before the body, then the body; the answer is the status, the
// header list, the body and whether the connection can go back to the pool.
// Any difference (one refuses what the other takes, or they read different
// answers) aborts. Input: byte 0 the read piece size, byte 1 bit 0 a HEAD
// request, bit 1 a small limit; the rest is what the upstream sends.
//
// And the exchange's reader of common answers (read_simple_response)
// against the `response_reader`: every answer it takes from the bytes, the
// reader takes too, from the same bytes, using as many, with the same
// status, headers in the same order, body and keep-alive.

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "http/response_reader.hpp"
#include "runtime/common/header_list.hpp"
#include "tests/fuzz/fuzz_stream.hpp"

namespace bhttp = boost::beast::http;

namespace {

struct answer {
  unsigned status = 0;
  valmesh::header_list headers;
  std::string body;
  bool keep_alive = false;

  bool operator==(const answer&) const = default;

  /// Same-name headers together, each name's in the order received: Beast's
  /// field list puts a repeated name after its last one, the reader keeps
  /// the order of the wire; HTTP gives the two the same meaning.
  void group() {
    auto lower = [](std::string s) {
      for (auto& c : s) c = static_cast<char>(std::tolower(c));
      return s;
    };
    std::stable_sort(headers.begin(), headers.end(),
                     [&](const auto& a, const auto& b) {
                       return lower(a.first) < lower(b.first);
                     });
  }
};

/// Reads one answer from `conn` as the exchange does: nothing if refused.
template <class Parser>
bool read_one(valmesh::fuzz::byte_stream& conn, boost::beast::flat_buffer& b,
              Parser& p, uint64_t limit) {
  boost::beast::error_code ec;
  bhttp::read_header(conn, b, p, ec);
  if (ec) return false;
  auto length = p.content_length();
  if (length && *length > limit) return false;  // too_large
  if (!p.is_done()) bhttp::read(conn, b, p, ec);
  return !ec;
}

std::optional<answer> with_beast(valmesh::fuzz::byte_stream& conn,
                                 boost::beast::flat_buffer& b, bool head,
                                 uint64_t limit) {
  bhttp::response_parser<bhttp::string_body> p;
  p.body_limit(limit);
  if (head) p.skip(true);
  if (!read_one(conn, b, p, limit)) return std::nullopt;
  if (p.get().body().size() > limit) return std::nullopt;  // too_large
  // The parser's view, which knows a HEAD answer ends with its header (the
  // message's `need_eof` does not).
  bool keep_alive = p.keep_alive();
  auto res = p.release();
  answer a;
  a.status = res.result_int();
  for (auto& f : res)
    a.headers.emplace_back(std::string{f.name_string()},
                           std::string{f.value()});
  a.body = std::move(res.body());
  a.keep_alive = keep_alive;
  return a;
}

std::optional<answer> with_reader(valmesh::fuzz::byte_stream& conn,
                                  boost::beast::flat_buffer& b, bool head,
                                  uint64_t limit) {
  valmesh::web::response_reader p{limit};
  if (head) p.skip(true);
  if (!read_one(conn, b, p, limit)) return std::nullopt;
  answer a;
  a.status = p.get().status;
  a.headers = std::move(p.get().headers);
  a.body = std::move(p.get().body);
  a.keep_alive = p.keep_alive();
  return a;
}

/// Aborts unless the `response_reader` reads `bytes` as `simple`, using
/// `used`, with the same keep-alive.
void same_as_reader(std::string_view bytes, size_t used,
                    const valmesh::web::upstream_response& simple,
                    bool keep_alive, uint64_t limit) {
  valmesh::web::response_reader p{limit};
  boost::beast::error_code ec;
  auto taken = valmesh::fuzz::put_whole(p, bytes, ec);
  if (ec || !p.is_done() || taken != used) std::abort();
  auto length = p.content_length();
  if (!length || *length > limit) std::abort();
  auto& r = p.get();
  if (r.status != simple.status || r.headers != simple.headers ||
      r.body != simple.body || p.keep_alive() != keep_alive)
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  bool head = data[1] & 1;
  uint64_t limit = (data[1] & 2) ? 64 : 16 * 1024 * 1024;
  std::string_view bytes{reinterpret_cast<const char*>(data) + 2, size - 2};
  // The common-answer reader, answer after answer on a kept-alive
  // connection, as the exchange takes what its first read brought.
  if (!head) {
    auto rest = bytes;
    for (int calls = 0; calls < 16 && !rest.empty(); ++calls) {
      valmesh::web::upstream_response simple;
      bool keep_alive = false;
      auto used =
          valmesh::web::read_simple_response(rest, limit, simple, keep_alive);
      if (used == 0) break;
      if (used > rest.size()) std::abort();
      same_as_reader(rest, used, simple, keep_alive, limit);
      if (!keep_alive) break;
      rest.remove_prefix(used);
    }
  }
  valmesh::fuzz::byte_stream conn_a{bytes, data[0]};
  valmesh::fuzz::byte_stream conn_b{bytes, data[0]};
  boost::beast::flat_buffer buffer_a;
  boost::beast::flat_buffer buffer_b;
  // Keep-alive: the pool reuses a connection for the next call.
  for (int calls = 0; calls < 16; ++calls) {
    auto a = with_beast(conn_a, buffer_a, head, limit);
    auto b = with_reader(conn_b, buffer_b, head, limit);
    if (a.has_value() != b.has_value()) std::abort();
    if (!a) return 0;
    a->group();
    b->group();
    if (!(*a == *b)) std::abort();
    if (!a->keep_alive) return 0;
  }
  return 0;
}
