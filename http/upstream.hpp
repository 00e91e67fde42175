#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/beast/http/verb.hpp>

#include "runtime/common/header_list.hpp"
#include "runtime/common/inline_function.hpp"
#include "runtime/config/config.hpp"

namespace valmesh::web {

/// One request to an upstream instance.
struct upstream_request {
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string target = "/";
  header_list headers;
  /// More header lines ("Name: value\r\n" each), sent after `headers`:
  /// those the caller writes itself (the mesh's own), in one string of
  /// the caller's, read before `send` returns.
  std::string_view fields;
  std::string body;
  /// The whole exchange (connect, write, read) must finish within this.
  std::chrono::milliseconds timeout{std::chrono::seconds{5}};
};

struct upstream_response {
  unsigned status = 0;
  header_list headers;
  std::string body;
  bool reused_connection = false;  ///< came over a pooled connection
};

/// Why an upstream exchange failed; the mesh decides what is retryable.
struct upstream_error {
  enum class kind : uint8_t {
    connect,    ///< no connection (refused, unreachable): nothing was sent
    timeout,    ///< the per-try timeout passed
    reset,      ///< the connection broke after the request went out
    too_large,  ///< the response exceeds the limit
    protocol,   ///< not a valid HTTP response
  };
  kind what = kind::connect;
  std::string message;
};

/// The result of one exchange.
struct upstream_result {
  bool ok = false;
  upstream_response response;
  upstream_error error;
};

/// Limits of the upstream client.
///
/// | name              | default | meaning                                                         |
/// |-------------------|---------|-----------------------------------------------------------------|
/// | connect_timeout   | 1s      | a connection must be up within this (and the request's timeout) |
/// | response_limit    | 16 MiB  | a larger response body is a failure (502)                       |
/// | max_idle_per_host | 64      | idle keep-alive connections kept per instance                   |
/// | idle_timeout      | 30s     | an idle connection older than this is dropped                   |
struct upstream_options {
  std::chrono::milliseconds connect_timeout{std::chrono::seconds{1}};
  uint64_t response_limit = 16 * 1024 * 1024;
  size_t max_idle_per_host = 64;
  std::chrono::milliseconds idle_timeout{std::chrono::seconds{30}};
};

/// An asynchronous HTTP/1.1 client with a keep-alive connection pool per
/// instance (host:port). `send` may be called from any thread; callbacks run
/// on the io_context's thread, which must be exactly one (no strands). A
/// request that fails on a pooled connection before any byte of the answer
/// came back (the upstream closed it while idle) is sent once more on a new
/// connection, if its method is idempotent.
class upstream_pool {
 public:
  using callback = inline_function<void(upstream_result&&)>;

  upstream_pool(boost::asio::io_context& ioc, upstream_options options = {});
  ~upstream_pool();

  /// Sends `req` to `target`; calls `done` once.
  void send(const endpoint& target, const upstream_request& req, callback done);

  /// Idle connections held now (all instances).
  size_t idle_connections() const;

  struct impl;  ///< internal, shared with the exchanges in flight

 private:
  std::shared_ptr<impl> impl_;
};

/// Whether requests with this method may be repeated (RFC 9110 §9.2.2).
bool is_idempotent(boost::beast::http::verb v) noexcept;

}  // namespace valmesh::web
