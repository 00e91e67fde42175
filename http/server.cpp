#include "http/server.hpp"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <unordered_map>

#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <nlohmann/json.hpp>

#include "http/drained.hpp"
#include "http/read_loop.hpp"
#include "http/recycled_handler.hpp"
#include "runtime/common/clock.hpp"
#include "runtime/common/recycling_allocator.hpp"
#include "runtime/common/version.hpp"

namespace valmesh::web {

using namespace std::string_view_literals;

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

// -- responses ----------------------------------------------------------------

unsigned status_of(errc code) noexcept {
  switch (code) {
    case errc::invalid_argument:
      return 400;
    case errc::unauthorized:
      return 401;
    case errc::forbidden:
      return 403;
    case errc::not_found:
      return 404;
    case errc::method_not_allowed:
      return 405;
    case errc::conflict:
      return 409;
    case errc::payload_too_large:
      return 413;
    case errc::header_too_large:
      return 431;
    case errc::no_healthy_instance:
      return 503;
    case errc::unavailable:
      return 503;
    case errc::timeout:
      return 504;
    case errc::bad_gateway:
      return 502;
    case errc::internal:
      return 500;
    case errc::bulkhead_full:
    case errc::circuit_open:
      return 503;
    case errc::deadline_exceeded:
      return 504;
  }
  return 500;
}

response make_json_response(unsigned status, std::string body,
                            unsigned version) {
  response res{static_cast<beast_http::status>(status), version};
  res.set(beast_http::field::server, server_header);
  res.set(beast_http::field::content_type, "application/json");
  res.body() = std::move(body);
  return res;
}

response make_error_response(const failure& f, unsigned version) {
  nlohmann::json j = {
      {"error", {{"code", to_string(f.code)}, {"message", f.message}}}};
  auto res = make_json_response(
      status_of(f.code),
      j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
      version);
  if (status_of(f.code) == 503) res.set(beast_http::field::retry_after, "1");
  if (f.code == errc::unauthorized)
    res.set(beast_http::field::www_authenticate, "Bearer");
  return res;
}

// -- responder ----------------------------------------------------------------

struct responder::state {
  callback send;
  routed_callback routed;
  stream_callback stream;
  raw_callback raw;
  std::shared_ptr<void> owner;  ///< destroyed after the callbacks' last use
  unsigned version;
  bool keep_alive;
  uint16_t route = http_stats::no_route;
  std::string peer;
  std::atomic<bool> done{false};

  void deliver(response&& res) {
    if (routed)
      routed(std::move(res), route);
    else if (send)
      send(std::move(res));
  }

  ~state() {
    if (!done.load())
      deliver(make_error_response(
          {errc::internal, "the request was dropped without an answer"},
          version));
  }
};

responder::responder(callback f, unsigned version, bool keep_alive)
    : state_(make_recycled<state>()) {
  state_->send = std::move(f);
  state_->version = version;
  state_->keep_alive = keep_alive;
}

responder::responder(routed_callback f, unsigned version, bool keep_alive,
                     stream_callback stream, std::string peer, raw_callback raw,
                     std::shared_ptr<void> owner)
    : state_(make_recycled<state>()) {
  state_->owner = std::move(owner);
  state_->peer = std::move(peer);
  state_->routed = std::move(f);
  state_->stream = std::move(stream);
  state_->raw = std::move(raw);
  state_->version = version;
  state_->keep_alive = keep_alive;
}

void responder::set_route(uint16_t route) const noexcept {
  if (state_) state_->route = route;
}

void responder::operator()(response&& res) const {
  if (!state_ || state_->done.exchange(true)) return;
  state_->deliver(std::move(res));
}

void responder::raw(unsigned status, std::string_view fields,
                    std::string body) const {
  if (!state_ || state_->done.exchange(true)) return;
  if (state_->raw) {
    state_->raw(status, fields, std::move(body), state_->route);
    return;
  }
  // A server without the raw path: the same answer as a `response`.
  response res{beast_http::int_to_status(status), state_->version};
  res.result(status);
  std::string_view rest = fields;
  while (!rest.empty()) {
    auto eol = rest.find("\r\n");
    auto line = rest.substr(0, eol);
    rest = eol == std::string_view::npos ? std::string_view{}
                                         : rest.substr(eol + 2);
    auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    auto value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    res.insert(line.substr(0, colon), value);
  }
  res.body() = std::move(body);
  state_->deliver(std::move(res));
}

void responder::stream(response&& head, stream_open_fn on_open,
                       stream_close_fn on_close) const {
  if (!state_ || state_->done.exchange(true)) return;
  if (!state_->stream) {
    state_->deliver(make_error_response(
        {errc::internal, "this connection cannot stream"}, state_->version));
    return;
  }
  state_->stream(std::move(head), std::move(on_open), std::move(on_close),
                 state_->route);
}

unsigned responder::version() const noexcept {
  return state_ ? state_->version : 11;
}

const std::string& responder::peer() const noexcept {
  static const std::string none;
  return state_ ? state_->peer : none;
}

// -- limits -------------------------------------------------------------------

size_t default_max_connections() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY)
    return 65536;
  auto n = static_cast<size_t>(lim.rlim_cur);
  return n > 128 + 32 ? (n - 128) / 2 : 16;
}

// -- session ------------------------------------------------------------------

namespace {

// A connection lives on one io_context: concrete executor types instead of
// asio's type-erased `any_io_executor` (whose copies showed in profiles).
using loop_executor = net::io_context::executor_type;
using loop_socket = net::basic_stream_socket<tcp, loop_executor>;
using loop_timer =
    net::basic_waitable_timer<std::chrono::steady_clock,
                              net::wait_traits<std::chrono::steady_clock>,
                              loop_executor>;
using clock_type = std::chrono::steady_clock;

class session;

/// The deadlines of one loop's connections, swept by one coarse timer
/// (nginx and HAProxy keep per-connection timeouts the same way). A session
/// sets a plain time point when it starts waiting for a request or writing
/// an answer; no timer is armed or cancelled per read or write. Every
/// `tick` the sweep closes the sockets whose deadline has passed, which
/// fails their pending operations. Touched only on its loop's thread; the
/// timer runs only while the loop has connections.
struct loop_deadlines : std::enable_shared_from_this<loop_deadlines> {
  loop_deadlines(loop_executor ex, clock_type::duration tick)
      : timer(ex), tick(tick) {}

  /// Watches `s` until it is gone.
  void watch(std::weak_ptr<session> s) {
    sessions.push_back(std::move(s));
    if (!sweeping) arm();
  }

  void arm() {
    sweeping = true;
    timer.expires_after(tick);
    timer.async_wait([self = shared_from_this()](beast::error_code ec) {
      self->sweeping = false;
      if (!ec) self->sweep();
    });
  }

  void sweep();

  loop_timer timer;
  clock_type::duration tick;
  std::vector<std::weak_ptr<session>> sessions;
  bool sweeping = false;
};

/// How often deadlines are checked: a quarter of the shortest timeout
/// (a connection is closed at most a quarter late), between 10 ms and 1 s.
clock_type::duration deadline_tick(const server_options& o) {
  auto shortest = std::min(o.read_timeout, o.write_timeout);
  return std::clamp<clock_type::duration>(
      shortest / 4, std::chrono::milliseconds{10}, std::chrono::seconds{1});
}

struct shared_config {
  server_options options;
  request_handler handler;
  // Graceful shutdown: the sessions alive (to close the idle ones), the
  // requests in progress, and a condition to wait for them to finish.
  std::atomic<bool> draining{false};
  std::atomic<int64_t> in_flight{0};
  std::atomic<int64_t> connections{0};  ///< sessions alive
  std::mutex mtx;
  std::condition_variable idle;
  std::unordered_map<const session*, std::weak_ptr<session>> sessions;

  void request_done() {
    if (in_flight.fetch_sub(1) == 1 && draining.load()) {
      std::lock_guard<std::mutex> guard{mtx};
      idle.notify_all();
    }
  }
};

class session : public std::enable_shared_from_this<session> {
 public:
  /// `stats`: the counts of the loop the socket lives on (may be null).
  /// The connection counts in `connections` from its accept: the session
  /// takes that count over and gives it back when it ends.
  session(loop_socket&& socket, std::shared_ptr<shared_config> cfg,
          http_stats* stats, std::shared_ptr<loop_deadlines> deadlines)
      : socket_(std::move(socket)),
        cfg_(std::move(cfg)),
        stats_(stats),
        deadlines_(std::move(deadlines)) {
    beast::error_code ec;
    auto remote = socket_.remote_endpoint(ec);
    if (!ec) peer_ = remote.address().to_string();
  }

  ~session() {
    cfg_->connections.fetch_sub(1);
    if (stats_) {
      // The last reference may go on another thread (an actor's, holding
      // a responder): the loop's counts are touched on the loop only.
      auto ex = socket_.get_executor();
      if (ex.running_in_this_thread())
        stats_->session_closed();
      else
        net::post(ex,
                  [stats = stats_, keep = cfg_] { stats->session_closed(); });
    }
    std::lock_guard<std::mutex> guard{cfg_->mtx};
    cfg_->sessions.erase(this);
  }

  void run() {
    {
      std::lock_guard<std::mutex> guard{cfg_->mtx};
      cfg_->sessions.emplace(this, weak_from_this());
    }
    net::dispatch(socket_.get_executor(), [self = shared_from_this()] {
      if (self->stats_) self->stats_->session_opened();
      self->deadlines_->watch(self->weak_from_this());
      self->do_read();
    });
  }

  /// When the socket is closed by the sweep (time_point::max: never).
  clock_type::time_point deadline() const noexcept { return deadline_; }

  /// The deadline passed: closing the socket fails the pending read or
  /// write, which ends the session.
  void expire() {
    deadline_ = clock_type::time_point::max();
    beast::error_code ignored;
    socket_.close(ignored);
  }

  /// Graceful shutdown, on the session's loop: a stream ends now (its
  /// client reconnects elsewhere); other connections close after their
  /// next answer, which do_write marks `Connection: close` (Envoy's drain).
  void drain() {
    if (streaming_) close_stream();
  }

  loop_executor executor() { return socket_.get_executor(); }

 private:
  /// Reads the next request: a whole common request already buffered, or
  /// arriving in the first read, is taken by `read_simple_request`;
  /// anything else (a request split over reads, chunked, unusual or
  /// malformed) by Beast's parser, which also judges what is wrong.
  void do_read() {
    head_ = false;
    // One deadline covers the wait for a request and its whole transfer:
    // a client that sends half a request is cut off when it passes.
    deadline_ = event_scope::now() + cfg_->options.read_timeout;
    if (buffer_.size() > 0) {
      if (!read_simple()) read_with_parser();
      return;
    }
    auto asked = beast::read_size(buffer_, 65536);
    socket_.async_read_some(
        buffer_.prepare(asked),
        recycled([self = shared_from_this()](beast::error_code ec, size_t n) {
          event_scope event;  // what this request's handling reads as now
          self->drain_.finished(self->socket_, n);
          self->buffer_.commit(n);
          // The client closed between requests, or the read failed (the
          // sweep closed the socket): as `on_read` takes the same errors.
          if (ec == net::error::eof) return self->do_close();
          if (ec) return;
          if (!self->read_simple()) self->read_with_parser();
        }));
    drain_.started(socket_, asked);
  }

  /// Serves the buffered request if `read_simple_request` takes it.
  bool read_simple() {
    auto bytes = buffer_.data();
    request req;
    auto used = read_simple_request(
        {static_cast<const char*>(bytes.data()), bytes.size()}, cfg_->options,
        req);
    if (used == 0) return false;
    buffer_.consume(used);
    serve(std::move(req));
    return true;
  }

  void read_with_parser() {
    parser_.emplace();
    prepare_parser(*parser_, cfg_->options);
    parser_->eager(true);
    async_read_http(socket_, buffer_, *parser_, read_until::message,
                    shared_from_this(),
                    [this](beast::error_code ec) { on_read(ec, 0); });
  }

  void on_read(beast::error_code ec, size_t) {
    event_scope event;
    if (ec == beast_http::error::end_of_stream) return do_close();
    auto verdict = judge_read(ec, *parser_, cfg_->options);
    if (verdict.what == read_verdict::close) return;
    if (verdict.what == read_verdict::reject) return reject(verdict.error);
    serve(parser_->release());
  }

  void serve(request&& req) {
    deadline_ = clock_type::time_point::max();  // the handler's own apply
    busy_ = true;
    if (stats_) read_at_ = event_scope::now();
    cfg_->in_flight.fetch_add(1);
    keep_alive_ = req.keep_alive();
    head_ = req.method() == beast_http::verb::head;
    auto version = req.version();
    version_ = version;
    auto self = shared_from_this();
    // The callbacks capture a plain pointer, which fits std::function's
    // inline buffer (a shared_ptr would be allocated): the responder's state
    // holds the session (its `owner`) while they can be called.
    responder done{
        [s = self.get()](response&& res, uint16_t route) {
          // Inline when answered on the connection's own loop (the mesh's
          // case), else posted to it (answers from actor threads).
          net::dispatch(s->socket_.get_executor(),
                        [self = s->shared_from_this(), res = std::move(res),
                         route]() mutable {
                          self->route_ = route;
                          self->do_write(std::move(res));
                        });
        },
        version, keep_alive_,
        [s = self.get()](response&& head, stream_open_fn on_open,
                         stream_close_fn on_close, uint16_t route) {
          net::post(s->socket_.get_executor(),
                    [self = s->shared_from_this(), head = std::move(head),
                     on_open = std::move(on_open),
                     on_close = std::move(on_close), route]() mutable {
                      self->route_ = route;
                      self->start_stream(std::move(head), std::move(on_open),
                                         std::move(on_close));
                    });
        },
        peer_,
        // The proxy's answer as its parts (responder::raw).
        [s = self.get()](unsigned status, std::string_view fields,
                         std::string body, uint16_t route) {
          auto ex = s->socket_.get_executor();
          if (ex.running_in_this_thread()) {
            s->route_ = route;
            return s->do_write_raw(status, fields, std::move(body));
          }
          // From another thread: the fields are copied before `raw` returns.
          net::post(ex, [self = s->shared_from_this(), status,
                         fields = std::string{fields}, body = std::move(body),
                         route]() mutable {
            self->route_ = route;
            self->do_write_raw(status, fields, std::move(body));
          });
        },
        self};
    cfg_->handler(std::move(req), std::move(done));
  }

  /// Answers a request that could not be read, then closes. The client may
  /// still be sending (a body over the limit), so the close lingers.
  void reject(const failure& f) {
    keep_alive_ = false;
    linger_ = true;
    route_ = http_stats::no_route;
    if (stats_) read_at_ = event_scope::now();
    do_write(make_error_response(f, 11));
  }

  void do_write(response&& res) {
    if (cfg_->draining.load()) keep_alive_ = false;
    res_ = std::move(res);
    auto now = clock_type::now();  // one read for the count and the deadline
    count_answer(res_.result_int(), now);
    res_.keep_alive(keep_alive_);
    res_.prepare_payload();
    if (head_) res_.body().clear();  // Content-Length stays: RFC 9110 §9.3.2
    // The head serialised by hand into one string and written with the
    // body in one gather write: Beast's serializer walks a buffer sequence
    // per field and was a fifth of the proxy's instructions.
    start_head(res_.version(), res_.result_int(), res_.reason());
    for (auto& f : res_) {
      auto name = f.name_string();
      auto value = f.value();
      out_.append(name.data(), name.size()).append(": "sv);
      out_.append(value.data(), value.size()).append("\r\n"sv);
    }
    out_.append("\r\n"sv);
    write_head_and_body(now);
  }

  /// Starts the head in `out_` with the status line.
  void start_head(unsigned version, unsigned status,
                  beast::string_view reason) {
    out_.clear();
    out_.append(version == 10 ? "HTTP/1.0 "sv : "HTTP/1.1 "sv);
    out_.append(std::to_string(status)).append(1, ' ');
    out_.append(reason.data(), reason.size()).append("\r\n"sv);
  }

  /// Writes the head in `out_` and the body in `res_` in one gather write.
  void write_head_and_body(clock_type::time_point now) {
    std::array<net::const_buffer, 2> bufs{net::buffer(out_),
                                          net::buffer(res_.body())};
    deadline_ = now + cfg_->options.write_timeout;
    net::async_write(socket_, bufs,
                     recycled(beast::bind_front_handler(&session::on_write,
                                                        shared_from_this())));
  }

  /// `do_write` for an answer given as its parts: the head written as
  /// `do_write` writes that of the `response` with `fields` inserted.
  void do_write_raw(unsigned status, std::string_view fields,
                    std::string&& body) {
    if (cfg_->draining.load()) keep_alive_ = false;
    auto now = clock_type::now();
    count_answer(status, now);
    start_head(version_, status,
               beast_http::obsolete_reason(beast_http::int_to_status(status)));
    out_.append(fields);
    // What `keep_alive` and `prepare_payload` set on a response.
    if (version_ == 10 && keep_alive_)
      out_.append("Connection: keep-alive\r\n"sv);
    else if (version_ != 10 && !keep_alive_)
      out_.append("Connection: close\r\n"sv);
    bool bodiless =
        (status >= 100 && status < 200) || status == 204 || status == 304;
    if (!bodiless)
      out_.append("Content-Length: "sv)
          .append(std::to_string(body.size()))
          .append("\r\n"sv);
    out_.append("\r\n"sv);
    res_.body() = std::move(body);
    if (head_ || bodiless) res_.body().clear();
    write_head_and_body(now);
  }

  /// Counts the answer on this loop's figures, with the time since the
  /// request was read.
  void count_answer(unsigned status,
                    clock_type::time_point now = clock_type::now()) {
    if (!stats_) return;
    std::chrono::duration<double> took = now - read_at_;
    stats_->request_finished(route_, status, took.count());
  }

  void on_write(beast::error_code ec, size_t) {
    if (busy_) {
      busy_ = false;
      cfg_->request_done();
    }
    if (ec) return;
    if (!keep_alive_) return do_close();
    do_read();
  }

  void do_close() {
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (linger_) do_linger();
  }

  /// Lingering close (as nginx does): after an error answer, read and drop
  /// what the client still sends, for a bounded time and amount, so that it
  /// can finish its write and read the answer instead of seeing a reset.
  void do_linger() {
    deadline_ = event_scope::now() + linger_timeout;
    socket_.async_read_some(
        net::buffer(scratch_),
        [self = shared_from_this()](beast::error_code ec, size_t n) {
          self->lingered_ += n;
          if (!ec && self->lingered_ < linger_limit) self->do_linger();
        });
  }

  // -- streams (server-sent events) -------------------------------------------

  /// The sink handed to the handler: posts onto this session's strand, and
  /// becomes a no-op once the session is gone.
  class sink final : public stream_sink {
   public:
    explicit sink(std::weak_ptr<session> s) : session_(std::move(s)) {}
    void close() override {
      auto s = session_.lock();
      if (!s) return;
      net::post(s->socket_.get_executor(), [s] { s->close_stream(); });
    }

    void push(std::string chunk) override {
      auto s = session_.lock();
      if (!s) return;
      net::post(s->socket_.get_executor(),
                [s, chunk = std::move(chunk)]() mutable {
                  s->enqueue(std::move(chunk));
                });
    }

   private:
    std::weak_ptr<session> session_;
  };

  void start_stream(response&& head, stream_open_fn on_open,
                    stream_close_fn on_close) {
    on_close_ = std::move(on_close);
    streaming_ = true;
    count_answer(head.result_int());
    if (stats_) stats_->stream_opened();
    if (busy_) {
      busy_ = false;
      cfg_->request_done();
    }
    deadline_ = clock_type::time_point::max();
    // A modest kernel buffer, so that our bounded queue (with its `lagged`
    // notice) governs a slow reader, not megabytes of socket buffer.
    beast::error_code ignored;
    socket_.set_option(net::socket_base::send_buffer_size{64 * 1024}, ignored);
    // The head by hand: no length, the body runs until the connection closes.
    std::string h = "HTTP/1.1 " + std::to_string(head.result_int()) + " " +
                    std::string{head.reason()} + "\r\n";
    head.set(beast_http::field::connection, "close");
    for (auto& f : head)
      h +=
          std::string{f.name_string()} + ": " + std::string{f.value()} + "\r\n";
    h += "\r\n";
    queue_.push_back(std::move(h));
    write_next();
    // A pending read notices at once when the client goes away.
    socket_.async_read_some(
        net::buffer(scratch_),
        [self = shared_from_this()](beast::error_code, size_t) {
          self->close_stream();
        });
    keepalive_.emplace(socket_.get_executor());
    arm_keepalive();
    on_open(std::make_shared<sink>(weak_from_this()));
  }

  void enqueue(std::string chunk) {
    if (stream_closed_) return;
    if (queue_.size() >= cfg_->options.stream_queue_limit) {
      queue_.pop_front();  // never the one being written: see write_next
      ++dropped_;
      if (stats_) stats_->event_dropped();
    }
    queue_.push_back(std::move(chunk));
    if (!writing_) write_next();
  }

  void write_next() {
    if (writing_ || queue_.empty() || stream_closed_) return;
    writing_ = true;
    current_ = std::move(queue_.front());
    queue_.pop_front();
    if (dropped_ > 0) {
      current_ =
          "event: lagged\ndata: {\"dropped\":" + std::to_string(dropped_) +
          "}\n\n" + current_;
      dropped_ = 0;
    }
    net::async_write(socket_, net::buffer(current_),
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->writing_ = false;
                       if (ec) return self->close_stream();
                       self->write_next();
                     });
  }

  void arm_keepalive() {
    keepalive_->expires_after(cfg_->options.stream_keepalive);
    keepalive_->async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->stream_closed_) return;
      self->enqueue(": keep-alive\n\n");
      self->arm_keepalive();
    });
  }

  void close_stream() {
    if (stream_closed_) return;
    stream_closed_ = true;
    if (stats_) stats_->stream_closed();
    if (keepalive_) keepalive_->cancel();
    beast::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    queue_.clear();
    if (auto f = std::move(on_close_)) f();
  }

  static constexpr auto linger_timeout = std::chrono::seconds{2};
  static constexpr size_t linger_limit = 64 * 1024 * 1024;

  loop_socket socket_;
  drain_tracker drain_;  ///< the reads of the next request
  beast::flat_buffer buffer_;
  std::shared_ptr<shared_config> cfg_;
  http_stats* stats_;  ///< this loop's counts; null: not counted
  std::shared_ptr<loop_deadlines> deadlines_;  ///< of the session's loop
  clock_type::time_point deadline_ = clock_type::time_point::max();
  uint16_t route_ = http_stats::no_route;  ///< of the request being answered
  unsigned version_ = 11;                  ///< of the request being answered
  std::chrono::steady_clock::time_point read_at_{};
  std::optional<request_parser> parser_;
  response res_;
  std::string out_;   ///< the serialised head of res_
  std::string peer_;  ///< the client's IP address
  bool keep_alive_ = true;
  bool busy_ = false;       ///< a request is being answered
  bool streaming_ = false;  ///< the connection is an event stream
  bool head_ = false;
  bool linger_ = false;
  size_t lingered_ = 0;
  std::array<char, 16 * 1024> scratch_;
  // Stream mode.
  bool stream_closed_ = false;
  bool writing_ = false;
  size_t dropped_ = 0;
  std::deque<std::string> queue_;
  std::string current_;
  std::optional<net::steady_timer> keepalive_;
  stream_close_fn on_close_;
};

void loop_deadlines::sweep() {
  auto now = clock_type::now();
  size_t kept = 0;
  for (size_t i = 0; i < sessions.size(); ++i) {
    auto s = sessions[i].lock();
    if (!s) continue;
    if (s->deadline() <= now) s->expire();
    if (kept != i) sessions[kept] = std::move(sessions[i]);
    ++kept;
  }
  sessions.resize(kept);
  if (!sessions.empty()) arm();
}

}  // namespace

// -- server -------------------------------------------------------------------

struct server::impl : std::enable_shared_from_this<server::impl> {
  impl(std::vector<net::io_context*> loops, std::shared_ptr<shared_config> cfg)
      : loops(std::move(loops)),
        acceptor(*this->loops.front()),
        cfg(std::move(cfg)) {
    auto tick = deadline_tick(this->cfg->options);
    for (auto* loop : this->loops)
      deadlines.push_back(
          std::make_shared<loop_deadlines>(loop->get_executor(), tick));
  }

  std::shared_ptr<loop_deadlines> deadlines_of(net::io_context& loop) {
    for (size_t i = 0; i < loops.size(); ++i)
      if (loops[i] == &loop) return deadlines[i];
    return deadlines.front();  // not reached: sockets go to our loops
  }

  /// Accepts on the acceptor's loop and hands each connection to the loops
  /// in turn as a bare descriptor, which the loop that will own it
  /// registers with its own reactor: every socket of a loop is touched by
  /// that loop's thread only, so its handlers need no strand and the loops'
  /// reactors need no per-socket lock (http/loops.hpp).
  void do_accept() {
    acceptor.async_wait(tcp::acceptor::wait_read,
                        [self = shared_from_this()](beast::error_code ec) {
                          self->on_ready(ec);
                        });
  }

  /// The listening socket is readable: accepts what is waiting, up to a
  /// batch, then waits again (a wait arms at once if more are queued).
  void on_ready(beast::error_code ec) {
    if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
    for (int i = 0; !ec && i < accept_batch; ++i) {
      int fd =
          ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        hand_over(fd);
        continue;
      }
      int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK) break;
      // The connection failed before it was taken (Linux reports its
      // pending network errors here): take the next one.
      if (e == EINTR || e == ECONNABORTED || e == EPROTO || e == ENETDOWN ||
          e == ENOPROTOOPT || e == EHOSTDOWN || e == ENONET ||
          e == EHOSTUNREACH || e == EOPNOTSUPP || e == ENETUNREACH)
        continue;
      ec.assign(e, net::error::get_system_category());
    }
    if (ec) {
      // Out of descriptors, say: back off instead of spinning on accept.
      spdlog::warn("http: accept failed: {}", ec.message());
      retry.expires_after(std::chrono::milliseconds{100});
      retry.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (!ec && self->acceptor.is_open()) self->do_accept();
      });
      return;
    }
    do_accept();
  }

  /// An accepted connection on its way to its loop. It counts in
  /// `connections` from the accept (the session it becomes keeps the
  /// count), so `max_connections` holds across a batch; if its loop never
  /// takes it (the loop stopped first), it is closed and uncounted.
  struct accepted {
    accepted(int fd, std::shared_ptr<shared_config> c)
        : fd(fd), cfg(std::move(c)) {
      cfg->connections.fetch_add(1);
    }
    accepted(accepted&& other) noexcept
        : fd(std::exchange(other.fd, -1)), cfg(std::move(other.cfg)) {}
    accepted& operator=(accepted&&) = delete;
    ~accepted() {
      if (fd < 0) return;
      ::close(fd);
      cfg->connections.fetch_sub(1);
    }
    int fd;
    std::shared_ptr<shared_config> cfg;
  };

  void hand_over(int fd) {
    auto cap = cfg->options.max_connections;
    // On the acceptor's loop: its counts take accepts and refusals.
    auto* here =
        cfg->options.stats ? cfg->options.stats->of(acceptor_loop()) : nullptr;
    if (cap > 0 && cfg->connections.load() >= static_cast<int64_t>(cap)) {
      if (here) here->connection_refused();
      return refuse(fd);
    }
    if (here) here->connection_accepted();
    auto& loop = *loops[next_loop++ % loops.size()];
    net::post(loop, [self = shared_from_this(), &loop,
                     conn = accepted{fd, cfg}]() mutable {
      loop_socket socket{loop};
      beast::error_code ec;
      socket.assign(self->protocol, conn.fd, ec);
      if (ec) return;  // still the connection's: closed and uncounted
      conn.fd = -1;    // the socket's now, and its count the session's
      socket.set_option(tcp::no_delay{true}, ec);
      auto* stats = self->cfg->options.stats
                        ? self->cfg->options.stats->of(loop)
                        : nullptr;
      std::make_shared<session>(std::move(socket), self->cfg, stats,
                                self->deadlines_of(loop))
          ->run();
    });
  }

  /// Past `max_connections`: a 503 written without waiting (the socket's
  /// buffer takes it whole) and the connection closed, so the client learns
  /// why at once and connected clients never notice (HAProxy's `maxconn`
  /// leaves them in the backlog instead; a clear answer is kinder).
  void refuse(int fd) {
    static const std::string answer =
        "HTTP/1.1 503 Service Unavailable\r\nServer: " +
        std::string{server_header} +
        "\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
        "Connection: close\r\nContent-Length: " +
        std::to_string(refusal_body.size()) + "\r\n\r\n" + refusal_body;
    if (refused++ % 1000 == 0)
      spdlog::warn("http: {} connections open (max_connections); refusing",
                   cfg->connections.load());
    [[maybe_unused]] auto sent =
        ::send(fd, answer.data(), answer.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
  }

  static inline const std::string refusal_body =
      R"({"error":{"code":"unavailable","message":"too many connections: )"
      R"(the node is at its max_connections"}})";

  net::io_context& acceptor_loop() noexcept { return *loops.front(); }

  /// Connections taken per readiness of the listening socket, at most.
  static constexpr int accept_batch = 64;

  std::vector<net::io_context*> loops;
  std::vector<std::shared_ptr<loop_deadlines>> deadlines;  ///< per loop
  size_t next_loop = 0;
  tcp protocol = tcp::v4();  ///< of the listening socket
  uint64_t refused = 0;
  tcp::acceptor acceptor;
  net::steady_timer retry{acceptor.get_executor()};
  std::shared_ptr<shared_config> cfg;
};

server::server(net::io_context& ioc, server_options options,
               request_handler handler)
    : server(std::vector<net::io_context*>{&ioc}, options, std::move(handler)) {
}

server::server(std::vector<net::io_context*> loops, server_options options,
               request_handler handler) {
  auto cfg = std::make_shared<shared_config>();
  cfg->options = options;
  cfg->handler = std::move(handler);
  impl_ = std::make_shared<impl>(std::move(loops), std::move(cfg));
}

server::~server() {
  stop_accepting();
}

expected<uint16_t> server::listen(const endpoint& ep) {
  beast::error_code ec;
  auto address = net::ip::make_address(ep.host, ec);
  if (ec)
    return failure{errc::invalid_argument,
                   "'" + ep.host + "' is not an IP address to listen on"};
  tcp::endpoint where{address, ep.port};
  impl_->protocol = where.protocol();
  auto& a = impl_->acceptor;
  a.open(where.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(where, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return failure{errc::unavailable,
                   "cannot listen on " + ep.to_string() + ": " + ec.message()};
  auto port = a.local_endpoint().port();
  impl_->do_accept();
  return port;
}

void server::drain() {
  auto& cfg = *impl_->cfg;
  cfg.draining.store(true);
  stop_accepting();
  std::vector<std::shared_ptr<session>> alive;
  {
    std::lock_guard<std::mutex> guard{cfg.mtx};
    for (auto& [_, w] : cfg.sessions)
      if (auto s = w.lock()) alive.push_back(std::move(s));
  }
  for (auto& s : alive) net::post(s->executor(), [s] { s->drain(); });
}

bool server::await_idle(std::chrono::milliseconds timeout) {
  auto& cfg = *impl_->cfg;
  std::unique_lock<std::mutex> guard{cfg.mtx};
  return cfg.idle.wait_for(guard, timeout,
                           [&] { return cfg.in_flight.load() == 0; });
}

int64_t server::in_flight() const noexcept {
  return impl_->cfg->in_flight.load();
}

int64_t server::connections() const noexcept {
  return impl_->cfg->connections.load();
}

void server::stop_accepting() {
  auto self = impl_;
  net::dispatch(self->acceptor.get_executor(), [self] {
    beast::error_code ec;
    self->acceptor.close(ec);
  });
}

}  // namespace valmesh::web
