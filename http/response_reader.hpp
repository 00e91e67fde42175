#pragma once

// The upstream's answer parsed by Beast's parser straight into an
// `upstream_response`: status, header list and body, with no Beast message
// and no field list between the parser and the mesh. The same bytes give
// the same answer as `beast::http::response_parser<string_body>` read into
// a header list (tests/fuzz/http_response_fuzz.cpp compares the two).

#include <cstddef>
#include <cstdint>
#include <tuple>
#include <utility>

#include <boost/beast/core/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/optional/optional.hpp>

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

}  // namespace valmesh::web
