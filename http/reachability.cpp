#include "http/reachability.hpp"

#include <memory>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

namespace valmesh::web {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

/// One probe: a resolver, a socket and a deadline; `done` is called once.
struct probe_state : std::enable_shared_from_this<probe_state> {
  probe_state(asio::io_context& ioc, std::function<void(bool)> f)
      : resolver(ioc), socket(ioc), deadline(ioc), done(std::move(f)) {}

  void finish(bool ok) {
    if (!done) return;
    auto f = std::move(done);
    done = nullptr;
    deadline.cancel();
    resolver.cancel();
    boost::system::error_code ignored;
    socket.close(ignored);
    f(ok);
  }

  tcp::resolver resolver;
  tcp::socket socket;
  asio::steady_timer deadline;
  std::function<void(bool)> done;
};

}  // namespace

void probe_tcp(asio::io_context& ioc, std::string host, uint16_t port,
               std::chrono::milliseconds timeout,
               std::function<void(bool)> done) {
  auto st = std::make_shared<probe_state>(ioc, std::move(done));
  st->deadline.expires_after(timeout);
  st->deadline.async_wait([st](boost::system::error_code ec) {
    if (!ec) st->finish(false);
  });
  st->resolver.async_resolve(
      host, std::to_string(port),
      [st](boost::system::error_code ec, tcp::resolver::results_type results) {
        if (ec) return st->finish(false);
        asio::async_connect(
            st->socket, results,
            [st](boost::system::error_code ec, const tcp::endpoint&) {
              st->finish(!ec);
            });
      });
}

}  // namespace valmesh::web
