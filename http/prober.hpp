#pragma once

#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "runtime/health/prober.hpp"

namespace valmesh {

/// An HTTP prober on `ioc`: `GET http://host:port<path>` over a kept-alive
/// connection (pooled per host:port), with `timeout` over the whole check
/// from the moment it is asked for. 2xx passing, 429 warning, anything else,
/// a timeout or a connect error critical. Checks carry `user_agent`
/// (`valmesh-health-check/NODE` on a node, so an upstream can tell which
/// member of a cluster checked it).
std::shared_ptr<prober> make_http_prober(
    boost::asio::io_context& ioc,
    std::string user_agent = "valmesh-health-check");

}  // namespace valmesh
