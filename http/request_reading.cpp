// How the server reads one request: the parser's limits and what each way a
// read can end means. Apart from the HTTP server's session (server.cpp),
// the request fuzzer (tests/fuzz/http_request_fuzz.cpp) compiles this file,
// so both run the same code over the same parser.

#include "http/server.hpp"

namespace valmesh::web {

namespace beast = boost::beast;

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
