#pragma once

#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "runtime/common/error.hpp"
#include "runtime/config/config.hpp"

namespace valmesh::web {

/// A response as the blocking client returns it.
struct client_response {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  ///< lower-case names
  std::string body;
};

/// One HTTP/1.1 request, made synchronously with a deadline over the whole
/// exchange (connect, write, read). For command-line tools, tests and
/// programs that talk to a node, not for the proxy path.
struct client_request {
  std::string method = "GET";
  std::string target = "/";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds timeout{std::chrono::seconds{10}};
};

/// Sends `req` to `ep`. Fails with `unavailable` if the node cannot be
/// reached and `timeout` if the deadline passes.
expected<client_response> send_request(const endpoint& ep,
                                       const client_request& req);

/// Percent-encodes `s` for use as one path segment (RFC 3986 unreserved
/// characters pass).
std::string encode_path_segment(std::string_view s);

/// Parses an agent address: `http://HOST:PORT`, or `HOST:PORT`.
expected<endpoint> parse_http_addr(std::string_view text);

}  // namespace valmesh::web
