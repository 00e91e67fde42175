#pragma once

// The upstream's answer parsed by Beast's parser straight into an
// `upstream_response`: status, header list and body, with no Beast message
// and no field list between the parser and the mesh. The same bytes give
// the same answer as `beast::http::response_parser<string_body>` read into
// a header list (tests/fuzz/http_response_fuzz.cpp compares the two).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <tuple>
#include <utility>

#include <boost/beast/core/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/optional/optional.hpp>

#include "http/simple_head.hpp"
#include "http/upstream.hpp"

namespace valmesh::web {

class response_reader final : public boost::beast::http::basic_parser<false> {
 public:
  /// `limit`: the largest body taken (a longer one is `body_limit`).
  explicit response_reader(uint64_t limit) : limit_(limit) {
    body_limit(limit);
    res_.headers.reserve(8);
  }

  /// The answer read so far (whole once `is_done()`).
  upstream_response& get() noexcept { return res_; }

 private:
  using error_code = boost::beast::error_code;
  using string_view = boost::beast::string_view;

  void on_request_impl(boost::beast::http::verb, string_view, string_view, int,
                       error_code&) override {}

  void on_response_impl(int code, string_view, int, error_code&) override {
    res_.status = static_cast<unsigned>(code);
  }

  void on_field_impl(boost::beast::http::field, string_view name,
                     string_view value, error_code&) override {
    res_.headers.emplace_back(
        std::piecewise_construct,
        std::forward_as_tuple(name.data(), name.size()),
        std::forward_as_tuple(value.data(), value.size()));
  }

  void on_header_impl(error_code&) override {}

  void on_body_init_impl(const boost::optional<uint64_t>& length,
                         error_code& ec) override {
    if (!length) return;
    if (*length > limit_) {
      ec = boost::beast::http::error::body_limit;
      return;
    }
    res_.body.reserve(static_cast<size_t>(*length));
  }

  size_t on_body_impl(string_view s, error_code& ec) override {
    return take(s, ec);
  }

  void on_chunk_header_impl(uint64_t, string_view, error_code&) override {}

  size_t on_chunk_body_impl(uint64_t, string_view s, error_code& ec) override {
    return take(s, ec);
  }

  void on_finish_impl(error_code&) override {}

  size_t take(string_view s, error_code& ec) {
    if (res_.body.size() + s.size() > limit_) {
      ec = boost::beast::http::error::body_limit;
      return 0;
    }
    res_.body.append(s.data(), s.size());
    return s.size();
  }

  uint64_t limit_;
  upstream_response res_;
};

/// Reads the common upstream answer without Beast's parser
/// (http/simple_head.hpp): a status line of `HTTP/1.1` or `HTTP/1.0` with a
/// status from 200 to 599 but 204 and 304, simple fields with a
/// `Content-Length`, the head within 8 KiB (Beast's parser's default
/// header limit, which `response_reader` keeps) and the whole body, within
/// `limit`, in `bytes`. Not for the answer to a HEAD. Returns the bytes it
/// took, with `out` filled as `response_reader` fills it and `keep_alive`
/// as its `keep_alive()` (tests/fuzz/http_response_fuzz.cpp compares the
/// two), or 0, with nothing touched, for anything else: the reader then
/// reads and judges it.
inline size_t read_simple_response(std::string_view bytes, uint64_t limit,
                                   upstream_response& out, bool& keep_alive) {
  constexpr size_t header_limit = 8192;
  const char* p = bytes.data();
  const char* end = p + std::min(bytes.size(), header_limit);
  // status-line = HTTP-version SP status-code SP reason-phrase CRLF
  if (end - p < 15) return 0;
  auto version = simple_head::version_at(p, ' ');
  if (version == 0) return 0;
  p += 9;
  auto digit = [](char c) { return static_cast<unsigned>(c - '0'); };
  if (digit(p[0]) > 9 || digit(p[1]) > 9 || digit(p[2]) > 9 || p[3] != ' ')
    return 0;
  auto status = 100 * digit(p[0]) + 10 * digit(p[1]) + digit(p[2]);
  if (status < 200 || status > 599 || status == 204 || status == 304) return 0;
  p = simple_head::first_below(p + 4, end, 0x20, true);  // the reason
  if (end - p < 2 || p[0] != '\r' || p[1] != '\n') return 0;
  simple_head::fields_scan scan;
  p = simple_head::scan_fields(p + 2, end, scan);
  if (!p || !scan.has_length || scan.length > limit) return 0;
  auto head = static_cast<size_t>(p - bytes.data());
  if (bytes.size() - head < scan.length) return 0;
  out.status = status;
  out.headers.reserve(std::max<size_t>(8, scan.size));
  for (size_t i = 0; i < scan.size; ++i) {
    auto& f = scan.fields[i];
    out.headers.emplace_back(std::piecewise_construct,
                             std::forward_as_tuple(f.name, f.name_size),
                             std::forward_as_tuple(f.value, f.value_size));
  }
  out.body.assign(p, static_cast<size_t>(scan.length));
  keep_alive = version == 11 ? !scan.close : scan.keep_alive;
  return head + static_cast<size_t>(scan.length);
}

}  // namespace valmesh::web
