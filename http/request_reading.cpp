// How the server reads one request: the parser's limits and what each way a
// read can end means. Apart from the HTTP server's session (server.cpp),
// the request fuzzer (tests/fuzz/http_request_fuzz.cpp) compiles this file,
// so both run the same code over the same parser.

#include <cstdint>

#include "http/server.hpp"
#include "http/simple_head.hpp"

namespace valmesh::web {

namespace beast = boost::beast;

size_t read_simple_request(std::string_view bytes,
                           const server_options& options, request& out) {
  const char* p = bytes.data();
  // Only the head is scanned against the header limit; past it, or at the
  // end of the bytes, Beast's parser takes over.
  const char* end = p + std::min<size_t>(bytes.size(), options.header_limit);
  // request-line = method SP request-target SP HTTP-version CRLF
  auto method_at = p;
  while (p < end && simple_head::is_token(*p)) ++p;
  if (p == method_at || p >= end || *p != ' ') return 0;
  std::string_view method{method_at, static_cast<size_t>(p - method_at)};
  // The target is what Beast takes (bytes above the space but DEL) up to
  // the space.
  auto target_at = ++p;
  p = simple_head::first_below(p, end, 0x21, false);
  if (p == target_at || p >= end || *p != ' ') return 0;
  std::string_view target{target_at, static_cast<size_t>(p - target_at)};
  ++p;
  if (end - p < 10) return 0;
  auto version = simple_head::version_at(p, '\r');
  if (version == 0 || p[9] != '\n') return 0;
  p += 10;
  // The fields, up to the empty line.
  simple_head::fields_scan scan;
  p = simple_head::scan_fields(p, end, scan);
  if (!p) return 0;
  auto head = static_cast<size_t>(p - bytes.data());
  auto length = scan.length;
  if (length > options.body_limit || bytes.size() - head < length) return 0;
  // What Beast's parser does with the same request (`on_request_impl`,
  // `on_field_impl`, the string body).
  out.method_string(method);
  out.target(target);
  out.version(version);
  for (size_t i = 0; i < scan.size; ++i) {
    auto& f = scan.fields[i];
    out.insert(f.kind, f.name_view(), f.value_view());
  }
  out.body().assign(p, static_cast<size_t>(length));
  return head + static_cast<size_t>(length);
}

void prepare_parser(request_parser& p, const server_options& options) {
  p.body_limit(options.body_limit);
  p.header_limit(options.header_limit);
}

read_verdict judge_read(const boost::system::error_code& ec,
                        const request_parser& p,
                        const server_options& options) {
  auto too_large = [&] {
    return read_verdict{read_verdict::reject,
                        {errc::payload_too_large,
                         "the request body is larger than " +
                             std::to_string(options.body_limit) + " bytes"}};
  };
  // The client closed between requests (the session shuts down its side),
  // or timed out (Beast's timeout; the session's deadline sweep closes the
  // socket instead, which ends the read with `operation_aborted`, below).
  if (ec == beast_http::error::end_of_stream || ec == beast::error::timeout)
    return {read_verdict::close, {}};
  if (ec == beast_http::error::body_limit) return too_large();
  if (ec == beast_http::error::header_limit)
    return {read_verdict::reject,
            {errc::header_too_large, "the request headers are too large"}};
  if (ec) {
    // Beast's parser errors share one category; anything else is the
    // transport (reset, aborted, end of stream) with nobody left to answer.
    if (ec.category() ==
        beast_http::make_error_code(beast_http::error::bad_target).category())
      return {
          read_verdict::reject,
          {errc::invalid_argument, "malformed HTTP request: " + ec.message()}};
    return {read_verdict::close, {}};
  }
  // Boost 1.74's parser may skip its body limit when header and body come
  // in one read: enforce it here too.
  if (p.get().body().size() > options.body_limit) return too_large();
  return {read_verdict::serve, {}};
}

}  // namespace valmesh::web
