#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "runtime/health_rules.hpp"

namespace valmesh {

/// Where a health check goes.
struct probe_target {
  std::string host;
  uint16_t port = 0;
  std::string path = "/health";
};

/// Runs health checks without blocking: `probe` returns at once and calls
/// `done` (on an I/O thread) with the result. The health checkers hold one;
/// tests give them a fake.
class prober {
 public:
  using callback = std::function<void(check_result)>;
  virtual ~prober() = default;
  virtual void probe(const probe_target& target,
                     std::chrono::milliseconds timeout, callback done) = 0;
};

/// An HTTP prober on `ioc`: `GET http://host:port<path>` over a kept-alive
/// connection (pooled per host:port), with `timeout` over the whole check
/// from the moment it is asked for. 2xx passing, 429 warning, anything else,
/// a timeout or a connect error critical.
std::shared_ptr<prober> make_http_prober(boost::asio::io_context& ioc);

}  // namespace valmesh
