#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include <boost/asio/io_context.hpp>

namespace valmesh::web {

/// Finds out without blocking whether a TCP connection to host:port can be
/// opened within `timeout`: resolves, connects, closes at once, and calls
/// `done(true)` or `done(false)` on a thread of `ioc`. The cluster asks
/// this before it lets CAF's middleman connect, because the middleman's
/// connect blocks, and an address that drops SYNs would stall it (and every
/// connect queued behind it) for the kernel's retries, minutes long.
void probe_tcp(boost::asio::io_context& ioc, std::string host, uint16_t port,
               std::chrono::milliseconds timeout,
               std::function<void(bool)> done);

}  // namespace valmesh::web
