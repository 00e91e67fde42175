#include "http/upstream.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <mutex>
#include <optional>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/intrusive/list.hpp>

#include "http/arena.hpp"
#include "http/drained.hpp"
#include "http/headers.hpp"
#include "http/read_loop.hpp"
#include "http/recycled_handler.hpp"
#include "http/response_reader.hpp"
#include "runtime/common/clock.hpp"
#include "runtime/common/recycling_allocator.hpp"

namespace valmesh::web {

using namespace std::string_view_literals;

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

bool is_idempotent(bhttp::verb v) noexcept {
  switch (v) {
    case bhttp::verb::get:
    case bhttp::verb::head:
    case bhttp::verb::options:
    case bhttp::verb::put:
    case bhttp::verb::delete_:
    case bhttp::verb::trace:
      return true;
    default:
      return false;
  }
}

namespace {

// Concrete executor types, not asio's type-erased `any_io_executor` (whose
// copies showed in profiles): every connection lives on one io_context.
using executor_t = net::io_context::executor_type;
using socket_t = net::basic_stream_socket<tcp, executor_t>;
using timer_t =
    net::basic_waitable_timer<std::chrono::steady_clock,
                              net::wait_traits<std::chrono::steady_clock>,
                              executor_t>;
using resolver_t = net::ip::basic_resolver<tcp, executor_t>;

/// A connection, its read buffer (kept with it, so an exchange on a pooled
/// connection reads without allocating one) and when it went idle.
struct pooled {
  std::unique_ptr<socket_t> stream;
  beast::flat_buffer buffer;
  std::chrono::steady_clock::time_point idle_since;
};

using clock_type = std::chrono::steady_clock;

/// What the pool's deadline sweep knows of an exchange in flight: a link
/// in its list (undone when the exchange is destroyed) and a time point.
class watched
    : public boost::intrusive::list_base_hook<
          boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
 public:
  /// Until when the pool lets the exchange run.
  clock_type::time_point until = clock_type::time_point::max();

  /// The time is up: fail the operation in progress.
  virtual void expire() = 0;

 protected:
  ~watched() = default;
};

}  // namespace

struct upstream_pool::impl : std::enable_shared_from_this<impl> {
  impl(net::io_context& ioc, upstream_options options)
      : ioc(ioc), options(options), sweep_timer(ioc.get_executor()) {}

  /// Watches `x` (linked now if it is not yet) until its deadline, which
  /// it may move while it runs. The timer is re-armed only for a deadline
  /// earlier than the one it waits for (as HAProxy requeues its timeouts).
  void watch(watched& x, clock_type::time_point deadline);

  /// Expires the exchanges whose deadline has passed and waits for the
  /// earliest of the others.
  void sweep();

  void arm(clock_type::time_point at) {
    sweep_at = at;
    sweep_timer.expires_at(at);  // cancels the wait in progress, if any
    sweep_timer.async_wait(
        [w = weak_from_this()](boost::system::error_code ec) {
          auto self = w.lock();
          if (ec || !self) return;
          self->sweep_at = clock_type::time_point::max();
          self->sweep();
        });
  }

  /// Takes a live idle connection to `key`, if any, and its read buffer
  /// (moved into `buffer`).
  std::unique_ptr<socket_t> take(const std::string& key,
                                 beast::flat_buffer& buffer,
                                 clock_type::time_point now) {
    std::lock_guard<std::mutex> guard{mtx};
    auto i = idle.find(key);
    if (i == idle.end()) return nullptr;
    while (!i->second.empty()) {
      auto p = std::move(i->second.back());
      i->second.pop_back();
      if (now - p.idle_since < options.idle_timeout && p.stream->is_open()) {
        buffer = std::move(p.buffer);
        return std::move(p.stream);
      }
    }
    return nullptr;
  }

  /// Returns a connection and its (emptied) read buffer to the pool, or
  /// closes it if the pool is full.
  void give_back(const std::string& key, std::unique_ptr<socket_t> s,
                 beast::flat_buffer&& buffer) {
    auto now = event_scope::now();
    std::lock_guard<std::mutex> guard{mtx};
    prune_locked(now);
    auto& xs = idle[key];
    if (xs.size() >= options.max_idle_per_host)
      return;        // closed on destruction
    buffer.clear();  // bytes past the answer are not ours to keep
    xs.push_back({std::move(s), std::move(buffer), now});
  }

  /// Drops idle connections past their time for every key, at most once a
  /// second, so hosts that are never called again do not keep descriptors.
  void prune_locked(clock_type::time_point now) {
    if (now - last_prune < std::chrono::seconds{1}) return;
    last_prune = now;
    for (auto i = idle.begin(); i != idle.end();) {
      auto& xs = i->second;
      xs.erase(std::remove_if(xs.begin(), xs.end(),
                              [&](const pooled& p) {
                                return now - p.idle_since >=
                                       options.idle_timeout;
                              }),
               xs.end());
      i = xs.empty() ? idle.erase(i) : std::next(i);
    }
  }

  size_t idle_count() const {
    std::lock_guard<std::mutex> guard{mtx};
    size_t n = 0;
    for (auto& [_, xs] : idle) n += xs.size();
    return n;
  }

  net::io_context& ioc;
  upstream_options options;
  mutable std::mutex mtx;
  std::map<std::string, std::vector<pooled>> idle;
  std::chrono::steady_clock::time_point last_prune{};

  // The exchanges in flight and their deadlines: touched only on the
  // loop's thread. One timer for all of them, not one armed and cancelled
  // per exchange.
  boost::intrusive::list<watched, boost::intrusive::constant_time_size<false>>
      in_flight;
  timer_t sweep_timer;
  clock_type::time_point sweep_at = clock_type::time_point::max();
};

namespace {

/// One exchange: pick or open a connection, write, read, pool or close.
class exchange final : public std::enable_shared_from_this<exchange>,
                       public watched {
 public:
  exchange(std::shared_ptr<upstream_pool::impl> pool, endpoint target,
           const upstream_request& req, upstream_pool::callback done,
           clock_type::time_point now)
      : pool_(std::move(pool)),
        target_(std::move(target)),
        key_(target_.to_string()),
        method_(req.method),
        timeout_(req.timeout),
        done_(std::move(done)),
        deadline_(now + req.timeout) {
    // The request head as one string: Beast's message serializer walks a
    // buffer sequence per field and cost a fifth of the proxy's own
    // instructions (docs/BENCHMARKS.md). HTTP/1.1 keeps the connection
    // alive without a Connection header; the caller's framing headers are
    // replaced by ours.
    auto verb = bhttp::to_string(req.method);
    head_.reserve(head_reserve);
    head_.append(verb.data(), verb.size()).append(1, ' ');
    head_.append(req.target.data(), req.target.size())
        .append(" HTTP/1.1\r\n"sv);
    bool has_host = false;
    for (auto& [k, v] : req.headers) {
      auto kind = classify_header(k);
      if (kind == header_kind::content_length ||
          kind == header_kind::transfer_encoding)
        continue;
      has_host = has_host || kind == header_kind::host;
      head_.append(k.data(), k.size()).append(": "sv);
      head_.append(v.data(), v.size()).append("\r\n"sv);
    }
    head_.append(req.fields.data(), req.fields.size());
    if (!has_host)
      head_.append("Host: "sv)
          .append(key_.data(), key_.size())
          .append("\r\n"sv);
    body_ = req.body;
    if (!body_.empty() || req.method == bhttp::verb::post ||
        req.method == bhttp::verb::put || req.method == bhttp::verb::patch)
      head_.append("Content-Length: "sv)
          .append(std::to_string(body_.size()))
          .append("\r\n"sv);
    head_.append("\r\n"sv);
  }

  /// `now`: when the exchange was made (its deadline counts from it).
  void start(clock_type::time_point now) {
    // One deadline for the whole exchange (a connect has a shorter one
    // first), swept by the pool.
    pool_->watch(*this, deadline_);
    if (auto s = pool_->take(key_, buffer_, now)) {
      stream_ = std::move(s);
      reused_ = true;
      return send();
    }
    connect();
  }

 private:
  /// The deadline passed (called by the pool's sweep, which has unlinked
  /// it): closing the socket fails the operation in progress with
  /// `operation_aborted`.
  void expire() override {
    if (finished_) return;
    timed_out_ = true;
    beast::error_code ignored;
    if (stream_) stream_->close(ignored);
    if (resolver_) resolver_->cancel();
  }

  void connect() {
    reused_ = false;
    stream_ = std::make_unique<socket_t>(pool_->ioc.get_executor());
    auto connect_by = std::min(
        deadline_, event_scope::now() + pool_->options.connect_timeout);
    if (connect_by < deadline_) pool_->watch(*this, connect_by);
    beast::error_code ec;
    auto addr = net::ip::make_address(target_.host, ec);
    if (!ec) {
      stream_->async_connect(tcp::endpoint{addr, target_.port},
                             [self = shared_from_this()](beast::error_code ec) {
                               self->on_connect(ec);
                             });
      return;
    }
    // A host name: resolve first (the connect deadline covers both).
    resolver_.emplace(pool_->ioc.get_executor());
    resolver_->async_resolve(
        target_.host, std::to_string(target_.port),
        [self = shared_from_this()](beast::error_code ec,
                                    tcp::resolver::results_type results) {
          if (ec && !self->timed_out_)
            return self->finish_error(
                upstream_error::kind::connect,
                "resolve '" + self->target_.host + "': " + ec.message());
          if (ec) return self->on_connect(ec);
          net::async_connect(
              *self->stream_, results,
              [self](beast::error_code ec, const tcp::endpoint&) {
                self->on_connect(ec);
              });
        });
  }

  void on_connect(beast::error_code ec) {
    if (timed_out_)
      return finish_error(event_scope::now() >= deadline_
                              ? upstream_error::kind::timeout
                              : upstream_error::kind::connect,
                          "connect timed out");
    if (ec)
      return finish_error(upstream_error::kind::connect,
                          "connect: " + ec.message());
    beast::error_code ignored;
    stream_->set_option(tcp::no_delay{true}, ignored);
    if (until != deadline_) pool_->watch(*this, deadline_);
    send();
  }

  void send() {
    std::array<net::const_buffer, 2> bufs{net::buffer(head_),
                                          net::buffer(body_)};
    net::async_write(
        *stream_, bufs,
        recycled([self = shared_from_this()](beast::error_code ec, size_t) {
          if (ec) return self->on_broken(ec, "write");
          self->read();
        }));
  }

  /// Reads the answer: a whole common one (not to a HEAD) in the first
  /// read is taken by `read_simple_response`; anything else by the
  /// `response_reader`, which also judges what is wrong.
  void read() {
    if (method_ == bhttp::verb::head || buffer_.size() > 0)
      return read_with_parser();
    auto asked = beast::read_size(buffer_, 65536);
    stream_->async_read_some(
        buffer_.prepare(asked),
        recycled([self = shared_from_this()](beast::error_code ec, size_t n) {
          event_scope event;  // what the answer's handling reads as now
          self->drain_.finished(*self->stream_, n);
          self->buffer_.commit(n);
          // As the reader reports a close before any byte of the answer.
          if (ec == net::error::eof)
            return self->on_read(bhttp::error::end_of_stream, 0);
          if (ec) return self->on_read(ec, 0);
          if (!self->read_simple()) self->read_with_parser();
        }));
    drain_.started(*stream_, asked);
  }

  bool read_simple() {
    auto bytes = buffer_.data();
    upstream_result r;
    bool keep_alive = false;
    auto used = read_simple_response(
        {static_cast<const char*>(bytes.data()), bytes.size()},
        pool_->options.response_limit, r.response, keep_alive);
    if (used == 0) return false;
    buffer_.consume(used);
    r.ok = true;
    deliver(std::move(r), keep_alive);
    return true;
  }

  void read_with_parser() {
    // Straight into the header list and body the mesh takes (no Beast
    // message, no field list in between).
    parser_.emplace(pool_->options.response_limit);
    if (method_ == bhttp::verb::head) parser_->skip(true);
    // The header first: a declared length over the limit fails before any
    // of the body is downloaded (Boost 1.74's parser skips its own length
    // check when header and body arrive in one read). The reader checks the
    // body's size as each piece arrives.
    parser_->eager(false);
    async_read_http(*stream_, buffer_, *parser_, read_until::header,
                    shared_from_this(), [this](beast::error_code ec) {
                      if (ec) return on_read(ec, 0);
                      auto length = parser_->content_length();
                      if (length && *length > pool_->options.response_limit)
                        return on_read(bhttp::error::body_limit, 0);
                      parser_->eager(true);
                      async_read_http(
                          *stream_, buffer_, *parser_, read_until::message,
                          shared_from_this(),
                          [this](beast::error_code ec) { on_read(ec, 0); });
                    });
  }

  void on_read(beast::error_code ec, size_t) {
    if (ec == bhttp::error::body_limit)
      return finish_error(upstream_error::kind::too_large,
                          "the upstream response is larger than " +
                              std::to_string(pool_->options.response_limit) +
                              " bytes");
    if (ec) return on_broken(ec, "read");
    upstream_result r;
    r.ok = true;
    r.response = std::move(parser_->get());
    // false too when the body ran to the close
    deliver(std::move(r), parser_->keep_alive());
  }

  void deliver(upstream_result&& r, bool keep_alive) {
    r.response.reused_connection = reused_;
    finished_ = true;
    unlink();
    if (keep_alive)
      pool_->give_back(key_, std::move(stream_), std::move(buffer_));
    done_(std::move(r));
  }

  /// A connection that broke. A pooled one that broke before any answer came
  /// back was most likely closed by the upstream while idle: retry once on a
  /// fresh connection, if repeating the request is safe.
  void on_broken(beast::error_code ec, const char* stage) {
    if (timed_out_)
      return finish_error(
          upstream_error::kind::timeout,
          "timeout after " + std::to_string(timeout_.count()) + "ms");
    bool nothing_back = !parser_ || !parser_->got_some();
    if (reused_ && nothing_back &&
        (is_idempotent(method_) || std::string_view{stage} == "write")) {
      buffer_.clear();
      return connect();
    }
    if (ec == bhttp::error::end_of_stream ||
        ec == net::error::connection_reset || ec == net::error::eof ||
        ec == bhttp::error::partial_message)
      return finish_error(upstream_error::kind::reset,
                          std::string{"upstream closed the connection ("} +
                              stage + "): " + ec.message());
    if (ec.category() ==
        bhttp::make_error_code(bhttp::error::bad_version).category())
      return finish_error(upstream_error::kind::protocol,
                          "invalid HTTP from the upstream: " + ec.message());
    finish_error(upstream_error::kind::reset,
                 std::string{stage} + ": " + ec.message());
  }

  void finish_error(upstream_error::kind what, std::string message) {
    finished_ = true;
    unlink();
    if (stream_) {
      beast::error_code ignored;
      stream_->close(ignored);
    }
    upstream_result r;
    r.error = {what, std::move(message)};
    done_(std::move(r));
  }

  std::shared_ptr<upstream_pool::impl> pool_;
  endpoint target_;
  std::string key_;
  bhttp::verb method_;
  std::chrono::milliseconds timeout_;
  upstream_pool::callback done_;
  clock_type::time_point deadline_;
  /// The request line and headers, serialised: up to head_reserve bytes
  /// in head_space_, longer ones on the heap.
  static constexpr size_t head_reserve = 480;
  alignas(std::max_align_t) std::array<std::byte, 512> head_space_;
  bump_arena head_arena_{head_space_.data(), head_space_.size()};
  arena_string head_{arena_allocator<char>{&head_arena_}};
  std::string body_;
  std::unique_ptr<socket_t> stream_;
  drain_tracker drain_;  ///< the read of the answer
  std::optional<resolver_t> resolver_;
  bool timed_out_ = false;
  bool finished_ = false;
  beast::flat_buffer buffer_;
  std::optional<response_reader> parser_;
  bool reused_ = false;
};

}  // namespace

void upstream_pool::impl::watch(watched& x, clock_type::time_point deadline) {
  x.until = deadline;
  if (!x.is_linked()) in_flight.push_back(x);
  if (deadline < sweep_at) arm(deadline);
}

void upstream_pool::impl::sweep() {
  auto now = clock_type::now();
  auto next = clock_type::time_point::max();
  for (auto i = in_flight.begin(); i != in_flight.end();) {
    auto& x = *i;
    if (x.until <= now) {
      i = in_flight.erase(i);
      x.expire();  // posts the failures: the list is not touched here
    } else {
      next = std::min(next, x.until);
      ++i;
    }
  }
  if (next != clock_type::time_point::max()) arm(next);
}

upstream_pool::upstream_pool(net::io_context& ioc, upstream_options options)
    : impl_(std::make_shared<impl>(ioc, options)) {}

upstream_pool::~upstream_pool() = default;

void upstream_pool::send(const endpoint& target, const upstream_request& req,
                         callback done) {
  auto now = event_scope::now();
  auto x = make_recycled<exchange>(impl_, target, req, std::move(done), now);
  // Start on an I/O thread: inline when called from one (the mesh's hot
  // path), else posted (health probes come from actor threads). A pooled
  // connection is used by one exchange at a time, so starting it from any
  // of the context's threads is safe.
  net::dispatch(impl_->ioc, [x, now] { x->start(now); });
}

size_t upstream_pool::idle_connections() const {
  return impl_->idle_count();
}

}  // namespace valmesh::web
