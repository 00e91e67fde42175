#pragma once

#include <memory>

#include <boost/asio/io_context.hpp>

#include "runtime/health/prober.hpp"

namespace valmesh {

/// An HTTP prober on `ioc`: `GET http://host:port<path>` over a kept-alive
/// connection (pooled per host:port), with `timeout` over the whole check
/// from the moment it is asked for. 2xx passing, 429 warning, anything else,
/// a timeout or a connect error critical.
std::shared_ptr<prober> make_http_prober(boost::asio::io_context& ioc);

}  // namespace valmesh
