#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/beast/http.hpp>

#include "http/front_end_stats.hpp"
#include "runtime/common/error.hpp"
#include "runtime/common/recycling_allocator.hpp"
#include "runtime/config/config.hpp"

namespace valmesh::web {

namespace beast_http = boost::beast::http;

/// The fields of a client's request: each one a block from the reading
/// thread's `recycling_allocator`, so reading a request allocates nothing
/// in the steady state (docs/ARCHITECTURE.md, "The proxy path's memory").
using request_fields = beast_http::basic_fields<recycling_allocator<char>>;
using request = beast_http::request<beast_http::string_body, request_fields>;
using response = beast_http::response<beast_http::string_body>;

/// The write side of a streamed response (server-sent events). Thread-safe;
/// `push` never blocks: the session keeps a bounded queue and, when it
/// overflows, drops the oldest chunks and tells the client with a `lagged`
/// event.
class stream_sink {
 public:
  virtual ~stream_sink() = default;
  /// Queues one complete SSE message.
  virtual void push(std::string chunk) = 0;
  /// Ends the stream (the client then reconnects).
  virtual void close() = 0;
};

/// Called with the sink when the stream's head is written.
using stream_open_fn = std::function<void(std::shared_ptr<stream_sink>)>;
/// Called once when the client is gone.
using stream_close_fn = std::function<void()>;

/// Completes one request. Call it once, from any thread; the session posts
/// the response onto its own strand. If every copy is dropped without a
/// call, the client still gets a 500 instead of a connection that hangs.
class responder {
 public:
  using callback = std::function<void(response&&)>;
  /// The server's callbacks also get the route that took the request
  /// (`set_route`), for its per-route counts.
  using routed_callback = std::function<void(response&&, uint16_t route)>;
  using stream_callback = std::function<void(response&&, stream_open_fn,
                                             stream_close_fn, uint16_t route)>;
  /// The server's callback for `raw`: status, header lines, body, route.
  using raw_callback =
      std::function<void(unsigned status, std::string_view fields,
                         std::string body, uint16_t route)>;

  responder() = default;
  responder(callback f, unsigned version, bool keep_alive);
  /// `owner` is kept alive with the responder: what the callbacks refer
  /// to (so they can capture a plain pointer, which fits std::function's
  /// own buffer).
  responder(routed_callback f, unsigned version, bool keep_alive,
            stream_callback stream, std::string peer, raw_callback raw = {},
            std::shared_ptr<void> owner = {});

  /// Records which route took the request (the router's id of its
  /// pattern); `http_stats::no_route` until then. Call before the answer.
  void set_route(uint16_t route) const noexcept;

  /// Sends `res`. Only the first call counts.
  void operator()(response&& res) const;

  /// Sends an answer given as its parts, without building a `response`
  /// (the proxy's path: no header field allocated on its own): `status`,
  /// `fields` as header lines ("Name: value\r\n" each, neither
  /// Content-Length nor Connection, which the server writes) and `body`.
  /// The same on the wire as the `response` with those fields inserted in
  /// that order. Only the first call counts. `fields` is read before
  /// `raw` returns (the caller may reuse its buffer).
  void raw(unsigned status, std::string_view fields, std::string body) const;

  /// Answers with a stream instead: writes `head` (status and headers; the
  /// body then runs until the connection closes), calls `on_open` with the
  /// sink, and `on_close` when the client leaves. Counts as the answer.
  void stream(response&& head, stream_open_fn on_open,
              stream_close_fn on_close) const;

  /// The request's HTTP version (10 or 11), to build the response with.
  unsigned version() const noexcept;

  /// The client's IP address (for `X-Forwarded-For`); empty if unknown.
  const std::string& peer() const noexcept;

 private:
  struct state;
  std::shared_ptr<state> state_;
};

/// Handles one parsed request. Must not block: answer through `done`.
using request_handler = std::function<void(request&&, responder done)>;

/// Limits of the HTTP front-end, each a named option.
///
/// | name               | default | meaning                                                                                   |
/// |--------------------|---------|-------------------------------------------------------------------------------------------|
/// | body_limit         | 1 MiB   | larger bodies get 413                                                                     |
/// | header_limit       | 16 KiB  | larger headers get 431                                                                    |
/// | read_timeout       | 30s     | a request must arrive whole within this; an idle keep-alive connection is closed after it |
/// | write_timeout      | 30s     | a response must be taken by the client within this                                        |
/// | stream_queue_limit | 256     | chunks queued per stream before the oldest drop                                           |
/// | stream_keepalive   | 15s     | a comment line on idle streams                                                            |
/// | max_connections    | 0       | connections open at once; one more is answered 503 and closed (0: no cap)                 |
struct server_options {
  /// Counts answers by route and code, their latency, connections and
  /// event streams, per loop (`GET /metrics`). Optional.
  std::shared_ptr<front_end_stats> stats;
  uint64_t body_limit = 1024 * 1024;
  uint32_t header_limit = 16 * 1024;
  std::chrono::milliseconds read_timeout{std::chrono::seconds{30}};
  std::chrono::milliseconds write_timeout{std::chrono::seconds{30}};
  size_t stream_queue_limit = 256;
  std::chrono::milliseconds stream_keepalive{std::chrono::seconds{15}};
  size_t max_connections = 0;
};

/// The connection cap that fits this process's file-descriptor limit
/// (`RLIMIT_NOFILE`, the soft one): what is left after a reserve of 128
/// descriptors (data dir, cluster, health checks), halved because a proxied
/// call holds an upstream connection beside the client's (HAProxy derives
/// its `maxconn` the same way); at least 16.
size_t default_max_connections();

/// The request parser the server reads with.
using request_parser = beast_http::parser<true, beast_http::string_body,
                                          recycling_allocator<char>>;

/// Gives `p` the options' body and header limits, as the server does
/// before each request of a connection (http/request_reading.cpp).
void prepare_parser(request_parser& p, const server_options& options);

/// What the server makes of one read of a request into `p` that ended
/// with `ec`: serve it, answer it with an error and close (`reject`), or
/// close without a word (the client left, or timed out). With Beast's
/// parser this is the whole of the server's request parsing; the fuzzer
/// (tests/fuzz/http_request_fuzz.cpp) drives both.
struct read_verdict {
  enum kind { serve, reject, close } what = serve;
  failure error;  ///< for reject
};
read_verdict judge_read(const boost::system::error_code& ec,
                        const request_parser& p, const server_options& options);

/// Reads the common request without Beast's parser: a request line of a
/// token method, a target and `HTTP/1.1` or `HTTP/1.0`; at most
/// `simple_head::max_fields` (32) fields with token names, values of visible
/// characters, spaces and tabs, no folded lines, and no `Transfer-Encoding`,
/// `Upgrade` or `Proxy-Connection`, a `Connection` of one token and at most
/// one `Content-Length` of digits; the whole head within the header limit
/// and the whole body (within the body limit) in `bytes`. Returns the
/// bytes the request took, with `out` filled as Beast's parser fills it
/// (the request fuzzer compares the two on every input this takes), or 0
/// when `bytes` hold anything else, `out` untouched: Beast's parser then
/// reads them and judges what is wrong (http/request_reading.cpp).
size_t read_simple_request(std::string_view bytes,
                           const server_options& options, request& out);

/// The asynchronous HTTP/1.1 server: a listener and one session per
/// connection with keep-alive and pipelining (requests answered in order,
/// one at a time, as nginx does), read timeouts against slow clients, and a
/// body limit. Parsing errors are answered as JSON errors (docs/API.md).
class server {
 public:
  /// Serves on one loop (an io_context run by one thread).
  server(boost::asio::io_context& ioc, server_options options,
         request_handler handler);

  /// Accepts on the first loop and spreads connections over all of them;
  /// each must be run by exactly one thread (no strands are used).
  server(std::vector<boost::asio::io_context*> loops, server_options options,
         request_handler handler);
  ~server();

  /// Binds and starts accepting; returns the bound port (useful with 0).
  expected<uint16_t> listen(const endpoint& ep);

  /// Stops accepting new connections (existing ones carry on).
  void stop_accepting();

  /// Begins a graceful shutdown: stops accepting (new connections are
  /// refused), ends event streams, and from now on answers every request
  /// with `Connection: close`. Requests on open connections are still
  /// served (and counted in flight) until the loops stop.
  void drain();

  /// Waits until no request is in progress, at most `timeout`; returns
  /// whether none is left. Call after `drain`, from outside the loops.
  bool await_idle(std::chrono::milliseconds timeout);

  /// Requests read and not yet answered (streams excluded).
  int64_t in_flight() const noexcept;

  /// Connections open now (event streams included).
  int64_t connections() const noexcept;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

/// Builds a JSON response.
response make_json_response(unsigned status, std::string body,
                            unsigned version);

/// Builds the error response for `f`: `{"error":{"code","message"}}`
/// with the status that `status_of` gives.
response make_error_response(const failure& f, unsigned version);

/// The one mapping from project error codes to HTTP status.
unsigned status_of(errc code) noexcept;

}  // namespace valmesh::web
