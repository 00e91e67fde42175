/// valmesh-echo: a small HTTP/1.1 echo service for demos, tests and
/// benchmarks.
///
///   valmesh-echo --port P [--host 127.0.0.1] [--name NAME] [--threads N]
///
/// `GET /health` answers `{"status":"ok"}`. `GET|POST /control` reads or
/// changes injected behaviour (delay, forced status, failure rate, health
/// status). Every other request is answered with a JSON echo of what was
/// received, so a test can see exactly what a proxy forwarded.
///
/// The server follows the shape of Beast's advanced server example: one
/// io_context, a listener, and one http_session per connection with a strand,
/// keep-alive, ordered pipelining, a body limit and I/O timeouts.

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <deque>
#include <exception>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using json = nlohmann::json;
/// Ordered so that output keys appear in the documented order.
using ordered_json = nlohmann::ordered_json;

using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

/// Largest request body accepted; bigger bodies get 413.
constexpr std::uint64_t kBodyLimit = 1024 * 1024;
/// Time a client gets to deliver a request (or accept a response) before
/// the connection is dropped, so idle and half-open peers do not pile up.
constexpr std::chrono::seconds kIoTimeout{30};
/// Responses that may wait for their turn on one pipelined connection before
/// the session stops reading ahead.
constexpr std::size_t kPipelineLimit = 8;
/// Upper bound for delayMs; keeps timer arithmetic far from overflow.
constexpr std::int64_t kMaxDelayMs = 2147483647;
/// Pause after a failed accept (e.g. EMFILE) so the loop does not spin.
constexpr std::chrono::milliseconds kAcceptBackoff{50};

/// Behaviour knobs changed through /control.
struct control_snapshot {
  std::int64_t delay_ms = 0;
  int status = 0;
  double fail_rate = 0.0;
  int health_status = 200;
};

/// A validated POST /control body; absent keys leave the state unchanged.
struct control_update {
  std::optional<std::int64_t> delay_ms;
  std::optional<int> status;
  std::optional<double> fail_rate;
  std::optional<int> health_status;
};

/// Control state shared by all connections (and threads). A mutex rather than
/// per-field atomics, so a multi-key update is applied all at once.
class control_state {
 public:
  control_snapshot get() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return state_;
  }

  control_snapshot apply(const control_update& update) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (update.delay_ms) state_.delay_ms = *update.delay_ms;
    if (update.status) state_.status = *update.status;
    if (update.fail_rate) state_.fail_rate = *update.fail_rate;
    if (update.health_status) state_.health_status = *update.health_status;
    return state_;
  }

  void count_request() { requests_.fetch_add(1, std::memory_order_relaxed); }

  std::uint64_t requests() const {
    return requests_.load(std::memory_order_relaxed);
  }

  /// Counts a `GET /health` (a health check), with who sent it.
  void count_check(const std::string& checker) {
    health_checks_.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(mutex_);
    ++checks_by_[checker];
  }

  std::uint64_t health_checks() const {
    return health_checks_.load(std::memory_order_relaxed);
  }

  std::map<std::string, std::uint64_t> checks_by() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return checks_by_;
  }

 private:
  std::atomic<std::uint64_t> health_checks_{0};
  /// By the `User-Agent` of the check (valmesh sends its node's name).
  std::map<std::string, std::uint64_t> checks_by_;
  mutable std::mutex mutex_;
  control_snapshot state_;
  std::atomic<std::uint64_t> requests_{0};
};

/// Process-wide facts every session needs.
struct service {
  std::string name;
  unsigned short port = 0;
  control_state control;
};

/// Logs to stderr; stdout is reserved for the single "listening" line.
void log_error(const char* what, const std::string& detail) {
  std::cerr << "valmesh-echo: " << what << ": " << detail << std::endl;
}

std::string to_lower(beast::string_view text) {
  std::string out(text.data(), text.size());
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(std::tolower(c));
  });
  return out;
}

/// Serialises JSON without throwing on invalid UTF-8 in echoed bytes.
template <class Json>
std::string dump(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

/// Uniform draw in [0, 1); thread-local so threads never contend on it.
double random_unit() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

/// 1xx, 204 and 304 responses must not carry a body (RFC 9110).
bool body_allowed(unsigned status) {
  return status >= 200 && status != 204 && status != 304;
}

/// Builds a JSON response. HEAD responses advertise the length of the body
/// they would have carried but send no bytes.
response make_response(unsigned status, unsigned version, bool keep_alive,
                       bool head, std::string body) {
  response res;
  res.version(version);
  res.result(status);
  // Beast has no phrase for non-standard codes such as 599.
  if (res.reason() == "<unknown-status>") res.reason("Unknown");
  res.set(http::field::server, "valmesh-echo");
  res.keep_alive(keep_alive);
  if (!body_allowed(status)) return res;
  res.set(http::field::content_type, "application/json");
  if (head) {
    res.content_length(body.size());
    return res;
  }
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

std::string error_body(const char* code, const std::string& message) {
  ordered_json body;
  body["error"]["code"] = code;
  body["error"]["message"] = message;
  return dump(body);
}

/// Emits 0 and 1 as integers so the default state prints exactly as
/// documented (`"failRate":0`), while fractions stay fractions.
ordered_json rate_json(double rate) {
  if (rate == 0.0) return 0;
  if (rate == 1.0) return 1;
  return rate;
}

ordered_json control_json(const control_snapshot& state) {
  ordered_json out;
  out["delayMs"] = state.delay_ms;
  out["status"] = state.status;
  out["failRate"] = rate_json(state.fail_rate);
  out["healthStatus"] = state.health_status;
  return out;
}

/// Reads an integer in [lo, hi]; rejects floats, booleans and out-of-range
/// values (including unsigned values too large for int64).
bool read_int(const json& value, std::int64_t lo, std::int64_t hi,
              std::int64_t* out) {
  if (!value.is_number_integer()) return false;
  if (value.is_number_unsigned()) {
    const auto u = value.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(hi)) return false;
    *out = static_cast<std::int64_t>(u);
  } else {
    *out = value.get<std::int64_t>();
  }
  return *out >= lo && *out <= hi;
}

/// Validates a POST /control body. Returns an error message, or an empty
/// string when `out` holds a complete, valid update.
std::string parse_control_update(const std::string& body, control_update* out) {
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return "body must be a JSON object";
  }
  for (const auto& item : doc.items()) {
    const std::string& key = item.key();
    const json& value = item.value();
    std::int64_t n = 0;
    if (key == "delayMs") {
      if (!read_int(value, 0, kMaxDelayMs, &n)) {
        return "delayMs must be an integer between 0 and " +
               std::to_string(kMaxDelayMs);
      }
      out->delay_ms = n;
    } else if (key == "status") {
      if (!read_int(value, 0, 599, &n) || (n != 0 && n < 100)) {
        return "status must be 0 or an integer between 100 and 599";
      }
      out->status = static_cast<int>(n);
    } else if (key == "failRate") {
      if (!value.is_number() || value.get<double>() < 0.0 ||
          value.get<double>() > 1.0) {
        return "failRate must be a number between 0 and 1";
      }
      out->fail_rate = value.get<double>();
    } else if (key == "healthStatus") {
      if (!read_int(value, 100, 599, &n)) {
        return "healthStatus must be an integer between 100 and 599";
      }
      out->health_status = static_cast<int>(n);
    } else {
      return "unknown key \"" + key +
             "\"; expected delayMs, status, failRate or healthStatus";
    }
  }
  return {};
}

/// Headers as an object of lower-case name -> value, in arrival order;
/// repeated headers are joined with ", " as RFC 9110 allows.
ordered_json headers_json(const request& req) {
  ordered_json headers = ordered_json::object();
  for (const auto& field : req.base()) {
    const std::string key = to_lower(field.name_string());
    const std::string value(field.value().data(), field.value().size());
    auto it = headers.find(key);
    if (it == headers.end()) {
      headers[key] = value;
    } else {
      it->get_ref<std::string&>() += ", " + value;
    }
  }
  return headers;
}

/// One connection. All handlers run on the stream's strand, so the session's
/// state needs no locking even when the io_context runs on several threads.
class http_session : public std::enable_shared_from_this<http_session> {
 public:
  http_session(tcp::socket&& socket, std::shared_ptr<service> svc)
      : stream_(std::move(socket)),
        delay_timer_(stream_.get_executor()),
        service_(std::move(svc)) {}

  void run() {
    // Start on the strand: the accepting thread is not on it.
    net::dispatch(
        stream_.get_executor(),
        beast::bind_front_handler(&http_session::do_read, shared_from_this()));
  }

 private:
  /// Reads the header first so `Expect: 100-continue` can be honoured before
  /// the client sends the body (curl otherwise stalls for a second).
  void do_read() {
    parser_.emplace();
    parser_->body_limit(kBodyLimit);
    reading_ = true;
    stream_.expires_after(kIoTimeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        beast::bind_front_handler(&http_session::on_read_header,
                                  shared_from_this()));
  }

  void on_read_header(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec) return on_read_error(ec);
    const auto& req = parser_->get();
    const auto expect = req[http::field::expect];
    // Only interject 100 Continue when no earlier response is in flight, so
    // it cannot overtake a pipelined final response.
    if (!parser_->is_done() && req.version() >= 11 &&
        beast::iequals(expect, "100-continue") && queue_.empty() && !writing_) {
      continue_ = http::response<http::empty_body>{http::status::continue_,
                                                   req.version()};
      writing_ = true;
      stream_.expires_after(kIoTimeout);
      http::async_write(stream_, continue_,
                        beast::bind_front_handler(&http_session::on_continue,
                                                  shared_from_this()));
      return;
    }
    do_read_body();
  }

  void on_continue(beast::error_code ec, std::size_t /*bytes*/) {
    writing_ = false;
    if (ec) return;
    do_read_body();
  }

  void do_read_body() {
    stream_.expires_after(kIoTimeout);
    http::async_read(
        stream_, buffer_, *parser_,
        beast::bind_front_handler(&http_session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec) return on_read_error(ec);
    reading_ = false;
    request req = parser_->release();
    parser_.reset();
    if (!req.keep_alive()) read_closed_ = true;
    try {
      handle_request(std::move(req));
    } catch (const std::exception& e) {
      log_error("request failed", e.what());
      queue_response(make_response(500, 11, false, false,
                                   error_body("internal", e.what())));
      read_closed_ = true;
    }
    maybe_read();
  }

  /// Malformed or oversized requests get an error answer and the connection
  /// is closed, because the byte stream can no longer be trusted.
  void on_read_error(beast::error_code ec) {
    reading_ = false;
    read_closed_ = true;
    if (ec == http::error::end_of_stream ||
        ec == http::error::partial_message) {
      // The peer finished sending; flush what is queued, then close.
      return maybe_close();
    }
    const auto& http_category =
        http::make_error_code(http::error::end_of_stream).category();
    if (ec.category() != http_category) return;  // Timeout, reset, abort.
    unsigned status = 400;
    const char* code = "bad_request";
    if (ec == http::error::body_limit) {
      status = 413;
      code = "payload_too_large";
    } else if (ec == http::error::header_limit) {
      status = 431;
      code = "header_too_large";
    }
    queue_response(make_response(status, 11, false, false,
                                 error_body(code, ec.message())));
  }

  void handle_request(request&& req) {
    const bool head = req.method() == http::verb::head;
    const bool get = req.method() == http::verb::get || head;
    const beast::string_view target = req.target();
    const auto mark = target.find('?');
    const std::string path(target.substr(0, mark));
    const std::string query(mark == beast::string_view::npos
                                ? beast::string_view()
                                : target.substr(mark + 1));
    const unsigned version = req.version();
    const bool keep_alive = req.keep_alive();

    if (path == "/health" && get) {
      service_->control.count_check(
          std::string{req[boost::beast::http::field::user_agent]});
      const auto status =
          static_cast<unsigned>(service_->control.get().health_status);
      const char* body = status >= 200 && status < 300
                             ? R"({"status":"ok"})"
                             : R"({"status":"failing"})";
      return queue_response(
          make_response(status, version, keep_alive, head, body));
    }

    if (path == "/control") {
      if (get) {
        ordered_json out = control_json(service_->control.get());
        out["requests"] = service_->control.requests();
        out["healthChecks"] = service_->control.health_checks();
        out["healthChecksBy"] = service_->control.checks_by();
        return queue_response(
            make_response(200, version, keep_alive, head, dump(out)));
      }
      if (req.method() == http::verb::post) {
        control_update update;
        const std::string error = parse_control_update(req.body(), &update);
        if (!error.empty()) {
          return queue_response(
              make_response(400, version, keep_alive, false,
                            error_body("invalid_argument", error)));
        }
        const control_snapshot state = service_->control.apply(update);
        return queue_response(make_response(200, version, keep_alive, false,
                                            dump(control_json(state))));
      }
      response res = make_response(
          405, version, keep_alive, head,
          error_body("method_not_allowed", "use GET or POST on /control"));
      res.set(http::field::allow, "GET, HEAD, POST");
      return queue_response(std::move(res));
    }

    // Echo. Counted on arrival so tests see every attempt that got here.
    service_->control.count_request();
    const control_snapshot state = service_->control.get();
    ordered_json echo;
    echo["name"] = service_->name;
    echo["port"] = service_->port;
    echo["method"] = std::string(req.method_string());
    echo["path"] = path;
    echo["query"] = query;
    echo["headers"] = headers_json(req);
    echo["body"] = req.body();
    unsigned status = 200;
    if (state.fail_rate > 0.0 && random_unit() < state.fail_rate) {
      status = 500;
      echo["injectedFailure"] = true;
    } else if (state.status != 0) {
      status = static_cast<unsigned>(state.status);
    }
    response res = make_response(status, version, keep_alive, head, dump(echo));
    if (state.delay_ms <= 0) return queue_response(std::move(res));

    // Delay on a timer, never a sleeping thread, so other connections keep
    // flowing. Reading pauses meanwhile, which keeps responses in order and
    // leaves no read pending whose timeout could cut the delay short.
    delayed_.emplace(std::move(res));
    delaying_ = true;
    delay_timer_.expires_after(std::chrono::milliseconds(state.delay_ms));
    delay_timer_.async_wait(
        beast::bind_front_handler(&http_session::on_delay, shared_from_this()));
  }

  void on_delay(beast::error_code ec) {
    delaying_ = false;
    if (ec) return;
    response res = std::move(*delayed_);
    delayed_.reset();
    queue_response(std::move(res));
    maybe_read();
  }

  /// Responses leave strictly in request order: only the front is written.
  void queue_response(response&& res) {
    queue_.push_back(std::move(res));
    if (!writing_) do_write();
  }

  void do_write() {
    writing_ = true;
    // Only affects the write timer when a read is already pending.
    stream_.expires_after(kIoTimeout);
    http::async_write(
        stream_, queue_.front(),
        beast::bind_front_handler(&http_session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t /*bytes*/) {
    writing_ = false;
    if (ec) return;  // The peer is gone; dropping the session closes it.
    const bool close = queue_.front().need_eof();
    queue_.pop_front();
    if (close) return do_close();
    if (!queue_.empty()) do_write();
    maybe_read();
    maybe_close();
  }

  /// Reads ahead (pipelining) unless the connection is finishing, a delayed
  /// response is pending, or too many responses are already waiting.
  void maybe_read() {
    if (reading_ || delaying_ || read_closed_ || closed_) return;
    if (queue_.size() >= kPipelineLimit) return;
    do_read();
  }

  void maybe_close() {
    if (!read_closed_ || reading_ || delaying_ || writing_ || closed_) return;
    if (!queue_.empty()) return;
    do_close();
  }

  /// Half-closes so the peer sees a clean end of stream after the last
  /// response; the socket is closed when the session is destroyed.
  void do_close() {
    closed_ = true;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  net::steady_timer delay_timer_;
  std::shared_ptr<service> service_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::empty_body> continue_;
  std::deque<response> queue_;  // deque: front stays put while we append.
  std::optional<response> delayed_;
  bool reading_ = false;
  bool writing_ = false;
  bool delaying_ = false;
  bool read_closed_ = false;  // No further requests will be read.
  bool closed_ = false;
};

/// Accepts connections and hands each one to a new http_session.
class listener : public std::enable_shared_from_this<listener> {
 public:
  listener(net::io_context& ioc, tcp::acceptor&& acceptor,
           std::shared_ptr<service> svc)
      : ioc_(ioc),
        acceptor_(std::move(acceptor)),
        backoff_(ioc),
        service_(std::move(svc)) {}

  void run() { do_accept(); }

 private:
  void do_accept() {
    // Each connection gets its own strand so --threads N stays race-free.
    acceptor_.async_accept(
        net::make_strand(ioc_),
        beast::bind_front_handler(&listener::on_accept, shared_from_this()));
  }

  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;
    if (ec) {
      log_error("accept", ec.message());
      backoff_.expires_after(kAcceptBackoff);
      backoff_.async_wait([self = shared_from_this()](beast::error_code e) {
        if (!e) self->do_accept();
      });
      return;
    }
    try {
      std::make_shared<http_session>(std::move(socket), service_)->run();
    } catch (const std::exception& e) {
      log_error("session", e.what());
    }
    do_accept();
  }

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  net::steady_timer backoff_;
  std::shared_ptr<service> service_;
};

/// Resolves host (an address or a name) and binds; port 0 is ephemeral.
bool open_acceptor(tcp::acceptor& acceptor, const std::string& host, int port,
                   beast::error_code& ec) {
  tcp::resolver resolver(acceptor.get_executor());
  const auto results = resolver.resolve(
      host, std::to_string(port),
      tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec) return false;
  if (results.empty()) {
    ec = net::error::host_not_found;
    return false;
  }
  const tcp::endpoint endpoint = results.begin()->endpoint();
  if (acceptor.open(endpoint.protocol(), ec)) return false;
  if (acceptor.set_option(net::socket_base::reuse_address(true), ec)) {
    return false;
  }
  if (acceptor.bind(endpoint, ec)) return false;
  if (acceptor.listen(net::socket_base::max_listen_connections, ec)) {
    return false;
  }
  return true;
}

/// Runs the io_context until stop(); a stray exception is logged and the
/// loop resumes instead of taking the whole service down.
void run_loop(net::io_context& ioc) {
  for (;;) {
    try {
      ioc.run();
      return;
    } catch (const std::exception& e) {
      log_error("handler", e.what());
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "valmesh-echo: HTTP echo service for demos, tests and "
      "benchmarks"};
  int port = -1;
  std::string host = "127.0.0.1";
  std::string name;
  int threads = 1;
  app.add_option("--port", port, "TCP port to listen on; 0 picks a free one")
      ->required()
      ->check(CLI::Range(0, 65535));
  app.add_option("--host", host, "Address or host name to bind")
      ->capture_default_str();
  app.add_option("--name", name, "Name reported in echoes (default echo-PORT)");
  app.add_option("--threads", threads, "Threads running the io_context")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  // Declared before the io_context so it outlives every session.
  auto svc = std::make_shared<service>();
  net::io_context ioc{threads};

  tcp::acceptor acceptor(ioc);
  beast::error_code ec;
  if (!open_acceptor(acceptor, host, port, ec)) {
    log_error("cannot listen",
              host + ":" + std::to_string(port) + ": " + ec.message());
    return 1;
  }
  const tcp::endpoint bound = acceptor.local_endpoint(ec);
  if (ec) {
    log_error("local_endpoint", ec.message());
    return 1;
  }
  svc->port = bound.port();
  svc->name = name.empty() ? "echo-" + std::to_string(svc->port) : name;

  // Installed before announcing the port, so a test that sends SIGTERM as
  // soon as it reads the line never hits the default (fatal) disposition.
  net::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait(
      [&ioc](beast::error_code /*ec*/, int /*signal*/) { ioc.stop(); });

  std::make_shared<listener>(ioc, std::move(acceptor), svc)->run();

  const net::ip::address address = bound.address();
  const std::string shown =
      address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  std::cout << "valmesh-echo listening on " << shown << ":" << svc->port
            << " name=" << svc->name << std::endl;

  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(threads - 1));
  for (int i = 1; i < threads; ++i) {
    pool.emplace_back([&ioc] { run_loop(ioc); });
  }
  run_loop(ioc);
  for (auto& thread : pool) thread.join();
  return 0;
}
