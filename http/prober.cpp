#include "http/prober.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace valmesh {

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

/// One check in flight: resolve, connect, write, read, each under one deadline.
class probe_op : public std::enable_shared_from_this<probe_op> {
 public:
  probe_op(net::io_context& ioc, probe_target target,
           std::chrono::milliseconds timeout, prober::callback done)
      : resolver_(net::make_strand(ioc)),
        stream_(resolver_.get_executor()),
        target_(std::move(target)),
        timeout_(timeout),
        done_(std::move(done)),
        start_(std::chrono::steady_clock::now()) {}

  /// Starts the check on the operation's strand (callers are actor threads).
  void run() {
    net::dispatch(
        stream_.get_executor(),
        beast::bind_front_handler(&probe_op::start, shared_from_this()));
  }

 private:
  void start() {
    req_.method(bhttp::verb::get);
    req_.target(target_.path);
    req_.version(11);
    req_.set(bhttp::field::host,
             target_.host + ":" + std::to_string(target_.port));
    req_.set(bhttp::field::user_agent, "valmesh-health-check");
    req_.keep_alive(false);
    parser_.body_limit(64 * 1024);
    stream_.expires_after(timeout_);
    // Literal addresses (the common case) skip the resolver.
    beast::error_code ec;
    auto addr = net::ip::make_address(target_.host, ec);
    if (!ec) {
      stream_.async_connect(
          tcp::endpoint{addr, target_.port},
          beast::bind_front_handler(&probe_op::on_connect, shared_from_this()));
      return;
    }
    resolver_.async_resolve(
        target_.host, std::to_string(target_.port),
        [self = shared_from_this()](beast::error_code ec,
                                    tcp::resolver::results_type results) {
          if (ec)
            return self->finish(check_verdict::critical,
                                "resolve: " + ec.message());
          self->stream_.async_connect(
              results, [self](beast::error_code ec, const tcp::endpoint&) {
                self->on_connect(ec);
              });
        });
  }

  void on_connect(beast::error_code ec) {
    if (ec) return fail("connect", ec);
    bhttp::async_write(
        stream_, req_,
        beast::bind_front_handler(&probe_op::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, size_t) {
    if (ec) return fail("write", ec);
    bhttp::async_read(
        stream_, buffer_, parser_,
        beast::bind_front_handler(&probe_op::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, size_t) {
    if (ec && ec != bhttp::error::end_of_stream) return fail("read", ec);
    auto status = parser_.get().result_int();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    finish(classify_http_status(status), "HTTP " + std::to_string(status));
  }

  void fail(const char* stage, beast::error_code ec) {
    if (ec == beast::error::timeout)
      return finish(check_verdict::critical,
                    "timeout after " + std::to_string(timeout_.count()) + "ms");
    finish(check_verdict::critical, std::string{stage} + ": " + ec.message());
  }

  void finish(check_verdict verdict, std::string output) {
    check_result r;
    r.verdict = verdict;
    r.duration = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - start_);
    r.output = std::move(output);
    done_(std::move(r));
  }

  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  probe_target target_;
  std::chrono::milliseconds timeout_;
  prober::callback done_;
  std::chrono::steady_clock::time_point start_;
  beast::flat_buffer buffer_;
  bhttp::request<bhttp::empty_body> req_;
  bhttp::response_parser<bhttp::string_body> parser_;
};

class http_prober final : public prober {
 public:
  explicit http_prober(net::io_context& ioc) : ioc_(ioc) {}

  void probe(const probe_target& target, std::chrono::milliseconds timeout,
             callback done) override {
    std::make_shared<probe_op>(ioc_, target, timeout, std::move(done))->run();
  }

 private:
  net::io_context& ioc_;
};

}  // namespace

std::shared_ptr<prober> make_http_prober(boost::asio::io_context& ioc) {
  return std::make_shared<http_prober>(ioc);
}

}  // namespace valmesh
