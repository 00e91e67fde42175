// drain_tracker on real loopback sockets: after a read that waited for the
// reactor and came back short, the next read waits for readiness instead of
// trying a recv first; and no read ever waits for data that already came.

#include "http/drained.hpp"

#include <chrono>
#include <optional>
#include <string>

#include <gtest/gtest.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

namespace net = boost::asio;
using net::ip::tcp;
using namespace std::chrono_literals;
using valmesh::web::drain_tracker;
using valmesh::web::loop_tcp_socket;
using valmesh::web::read_is_waiting;

namespace {

/// A loop's socket and the peer at the other end (a blocking socket on
/// another io_context, written to from the test's thread).
class drained_reads : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!valmesh::web::drained_reads_supported())
      GTEST_SKIP() << "this build of Asio does not use the epoll reactor: "
                      "every read starts with a recv, nothing to test";
    tcp::acceptor acceptor{peer_io_, {net::ip::make_address("127.0.0.1"), 0}};
    peer_.connect(acceptor.local_endpoint());
    socket_.emplace(acceptor.accept(io_));
  }

  void send(const std::string& bytes) { net::write(peer_, net::buffer(bytes)); }

  /// Starts a read of at most `asked` bytes; `got` holds what it read once
  /// its handler ran. Returns whether the read waits for the reactor.
  bool start_read(size_t asked) {
    got_.reset();
    buffer_.assign(asked, '\0');
    socket_->async_read_some(
        net::buffer(buffer_), [this](boost::system::error_code ec, size_t n) {
          tracker_.finished(*socket_, n);
          got_ = ec ? "error: " + ec.message() : buffer_.substr(0, n);
        });
    tracker_.started(*socket_, asked);
    return read_is_waiting(*socket_);
  }

  /// Runs the loop until the read's handler ran (at most 2 s).
  std::string finish_read() {
    io_.restart();  // a run that ran out of work left the loop stopped
    auto deadline = std::chrono::steady_clock::now() + 2s;
    while (!got_ && std::chrono::steady_clock::now() < deadline)
      io_.run_one_for(100ms);
    return got_.value_or("(the read never completed)");
  }

  /// Lets the reactor take what is ready while no read waits (a loop
  /// with no work would return without polling it).
  void poll() {
    auto work = net::make_work_guard(io_);
    io_.restart();
    io_.poll();
  }

  /// A read that waits, then gets `bytes`, fewer than it asked for.
  void drained_read(const std::string& bytes) {
    ASSERT_TRUE(start_read(64)) << "nothing was sent, so the read waits";
    send(bytes);
    ASSERT_EQ(finish_read(), bytes);
  }

  net::io_context io_;
  net::io_context peer_io_;
  tcp::socket peer_{peer_io_};
  std::optional<loop_tcp_socket> socket_;
  drain_tracker tracker_;
  std::string buffer_;
  std::optional<std::string> got_;
};

TEST_F(drained_reads, a_short_read_that_waited_makes_the_next_read_wait) {
  drained_read("GET / HTTP/1.1\r\n\r\n");
  // The next bytes are already in the socket, but the reactor has not
  // reported them: the read waits for it rather than try a recv first.
  send("second");
  EXPECT_TRUE(start_read(64));
  EXPECT_EQ(finish_read(), "second");
}

TEST_F(drained_reads, a_read_that_found_its_bytes_at_once_changes_nothing) {
  send("first");
  EXPECT_FALSE(start_read(64)) << "the bytes were there: it read them at once";
  EXPECT_EQ(finish_read(), "first");
  send("second");
  EXPECT_FALSE(start_read(64)) << "as Asio does: it tries a recv first";
  EXPECT_EQ(finish_read(), "second");
}

TEST_F(drained_reads, a_full_read_may_have_left_bytes_so_the_next_tries_first) {
  ASSERT_TRUE(start_read(4));
  send("0123456789");
  ASSERT_EQ(finish_read(), "0123");
  // Six bytes are still there, reported by an event already taken: a read
  // that waited for another would never complete.
  EXPECT_FALSE(start_read(64));
  EXPECT_EQ(finish_read(), "456789");
}

TEST_F(drained_reads, bytes_that_came_while_no_read_was_pending_are_read) {
  drained_read("one");
  send("two");
  // The reactor takes the readiness now, with no read waiting for it...
  poll();
  // ...so the next read must try a recv first, and finds the bytes.
  EXPECT_FALSE(start_read(64));
  EXPECT_EQ(finish_read(), "two");
}

TEST_F(drained_reads, a_close_while_no_read_was_pending_is_seen) {
  drained_read("one");
  peer_.close();
  poll();
  start_read(64);
  EXPECT_EQ(finish_read(),
            "error: " + net::error::make_error_code(net::error::eof).message());
}

TEST_F(drained_reads, a_close_after_the_next_read_started_is_seen) {
  drained_read("one");
  EXPECT_TRUE(start_read(64));
  peer_.close();
  EXPECT_EQ(finish_read(),
            "error: " + net::error::make_error_code(net::error::eof).message());
}

}  // namespace
