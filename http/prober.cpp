#include "http/prober.hpp"

#include "http/upstream.hpp"

namespace valmesh {

namespace {

/// Health checks over the upstream client: kept-alive connections per
/// host:port, so a check costs one request, not a TCP handshake and
/// teardown. The deadline starts when the check is created, so time spent
/// queued behind other I/O counts against the timeout.
class http_prober final : public prober {
 public:
  http_prober(boost::asio::io_context& ioc, std::string user_agent)
      : pool_(ioc, options()), user_agent_(std::move(user_agent)) {}

  void probe(const probe_target& target, std::chrono::milliseconds timeout,
             callback done) override {
    web::upstream_request req;
    req.target = target.path;
    req.timeout = timeout;
    req.headers = {{"User-Agent", user_agent_}};
    auto start = std::chrono::steady_clock::now();
    pool_.send(
        {target.host, target.port}, std::move(req),
        [done = std::move(done), start, timeout](web::upstream_result&& r) {
          check_result out;
          out.duration = std::chrono::duration_cast<std::chrono::microseconds>(
              std::chrono::steady_clock::now() - start);
          if (r.ok) {
            out.verdict = classify_http_status(r.response.status);
            out.output = "HTTP " + std::to_string(r.response.status);
          } else if (r.error.what == web::upstream_error::kind::timeout) {
            out.verdict = check_verdict::critical;
            out.output =
                "timeout after " + std::to_string(timeout.count()) + "ms";
          } else {
            out.verdict = check_verdict::critical;
            out.output = r.error.message;
          }
          done(std::move(out));
        });
  }

 private:
  static web::upstream_options options() {
    web::upstream_options o;
    o.response_limit = 64 * 1024;  // a health answer is small
    return o;
  }

  web::upstream_pool pool_;
  std::string user_agent_;
};

}  // namespace

std::shared_ptr<prober> make_http_prober(boost::asio::io_context& ioc,
                                         std::string user_agent) {
  return std::make_shared<http_prober>(ioc, std::move(user_agent));
}

}  // namespace valmesh
