// The upstream client of the mesh against real upstreams on loopback: a
// valmesh-echo, and a scripted server for what echo does not do (closing a
// pooled connection, chunked bodies, garbage).

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <future>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/executor_work_guard.hpp>
#include <nlohmann/json.hpp>

#include "http/upstream.hpp"
#include "tests/support/process.hpp"

using namespace valmesh;
using namespace valmesh::test;
using namespace valmesh::web;
using json = nlohmann::json;
namespace bhttp = boost::beast::http;

namespace {

/// A pool on its own I/O thread, with blocking calls for tests.
class client {
 public:
  explicit client(upstream_options o = {})
      : pool_(ioc_, o), work_(ioc_.get_executor()) {
    thread_ = std::thread{[this] { ioc_.run(); }};
  }
  ~client() {
    work_.reset();
    ioc_.stop();
    thread_.join();
  }
  upstream_result call(uint16_t port, upstream_request req) {
    std::promise<upstream_result> p;
    pool_.send({"127.0.0.1", port}, std::move(req),
               [&p](upstream_result r) { p.set_value(std::move(r)); });
    return p.get_future().get();
  }
  /// Sends without waiting; the future holds the result and how long it
  /// took from the send.
  std::future<std::pair<upstream_result, std::chrono::milliseconds>> send(
      uint16_t port, upstream_request req) {
    auto p = std::make_shared<
        std::promise<std::pair<upstream_result, std::chrono::milliseconds>>>();
    auto f = p->get_future();
    auto start = std::chrono::steady_clock::now();
    pool_.send(
        {"127.0.0.1", port}, std::move(req), [p, start](upstream_result r) {
          p->set_value({std::move(r),
                        std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - start)});
        });
    return f;
  }
  upstream_pool& pool() { return pool_; }

 private:
  boost::asio::io_context ioc_;
  upstream_pool pool_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type>
      work_;
  std::thread thread_;
};

upstream_request get(std::string target) {
  upstream_request r;
  r.target = std::move(target);
  r.timeout = std::chrono::seconds{5};
  return r;
}

/// Accepts connections and answers each request on them with `responses`
/// in turn; after the last one, or after `close_after` answers on one
/// connection, it closes that connection.
class scripted_server {
 public:
  scripted_server(std::vector<std::string> responses, int close_after)
      : responses_(std::move(responses)), close_after_(close_after) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(fd_, 16);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
    thread_ = std::thread{[this] { loop(); }};
  }
  ~scripted_server() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  uint16_t port = 0;
  std::atomic<int> accepted{0};

 private:
  void loop() {
    size_t next = 0;
    while (!stop_) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      ++accepted;
      std::string in;
      char buf[4096];
      for (int answered = 0;
           answered < close_after_ && next < responses_.size();) {
        auto n = recv(c, buf, sizeof(buf), 0);
        if (n <= 0) break;
        in.append(buf, static_cast<size_t>(n));
        while (in.find("\r\n\r\n") != std::string::npos &&
               answered < close_after_ && next < responses_.size()) {
          in.erase(0, in.find("\r\n\r\n") + 4);
          auto& r = responses_[next++];
          ::send(c, r.data(), r.size(), MSG_NOSIGNAL);
          ++answered;
        }
      }
      close(c);
    }
  }

  std::vector<std::string> responses_;
  int close_after_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

const std::string ok_keep_alive =
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok";

}  // namespace

TEST(upstream, requests_reuse_pooled_connections) {
  auto e = echo::start("up");
  ASSERT_TRUE(e.proc);
  client c;
  auto r1 = c.call(e.port, get("/a?x=1"));
  ASSERT_TRUE(r1.ok) << r1.error.message;
  EXPECT_EQ(r1.response.status, 200u);
  auto j = json::parse(r1.response.body);
  EXPECT_EQ(j["path"], "/a");
  EXPECT_EQ(j["query"], "x=1");
  EXPECT_FALSE(r1.response.reused_connection);
  EXPECT_EQ(c.pool().idle_connections(), 1u);
  auto r2 = c.call(e.port, get("/b"));
  ASSERT_TRUE(r2.ok);
  EXPECT_TRUE(r2.response.reused_connection);
  upstream_request post = get("/c");
  post.method = bhttp::verb::post;
  post.body = "payload";
  post.headers = {{"X-Correlation-ID", "abc"}};
  auto r3 = c.call(e.port, post);
  ASSERT_TRUE(r3.ok);
  auto k = json::parse(r3.response.body);
  EXPECT_EQ(k["body"], "payload");
  EXPECT_EQ(k["headers"]["x-correlation-id"], "abc");
  EXPECT_EQ(
      json::parse(
          http({"127.0.0.1", e.port}, "GET", "/control").body)["requests"],
      3);
  EXPECT_EQ(e.proc->stop(SIGTERM), 0);
}

TEST(upstream, the_per_try_timeout_holds) {
  auto e = echo::start();
  ASSERT_TRUE(e.proc);
  http({"127.0.0.1", e.port}, "POST", "/control", R"({"delayMs": 1000})");
  client c;
  auto req = get("/slow");
  req.timeout = std::chrono::milliseconds{150};
  auto start = std::chrono::steady_clock::now();
  auto r = c.call(e.port, req);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error.what, upstream_error::kind::timeout) << r.error.message;
  EXPECT_GE(took, std::chrono::milliseconds{150});
  EXPECT_LT(took, std::chrono::milliseconds{400});
  EXPECT_EQ(e.proc->stop(SIGTERM), 0);
}

// The pool sweeps the deadlines of its exchanges with one timer, re-armed
// only for an earlier deadline: a short timeout sent behind a long one must
// still hold, the next one after it too, and expiring them must leave the
// long one running.
TEST(upstream, each_exchange_keeps_its_own_deadline) {
  auto e = echo::start();
  ASSERT_TRUE(e.proc);
  http({"127.0.0.1", e.port}, "POST", "/control", R"({"delayMs": 1000})");
  client c;
  auto with_timeout = [](std::chrono::milliseconds t) {
    auto r = get("/slow");
    r.timeout = t;
    return r;
  };
  auto slow = c.send(e.port, with_timeout(std::chrono::seconds{4}));
  auto first = c.send(e.port, with_timeout(std::chrono::milliseconds{150}));
  auto second = c.send(e.port, with_timeout(std::chrono::milliseconds{400}));
  for (auto [f, timeout] : {std::pair{&first, 150}, std::pair{&second, 400}}) {
    auto [r, took] = f->get();
    ASSERT_FALSE(r.ok) << "the " << timeout << " ms exchange";
    EXPECT_EQ(r.error.what, upstream_error::kind::timeout) << r.error.message;
    EXPECT_GE(took.count(), timeout);
    EXPECT_LT(took.count(), timeout + 250);
  }
  auto [r, took] = slow.get();
  ASSERT_TRUE(r.ok) << r.error.message;
  EXPECT_EQ(r.response.status, 200u);
  EXPECT_GE(took.count(), 1000);
  EXPECT_EQ(e.proc->stop(SIGTERM), 0);
}

TEST(upstream, connect_failures_are_reported_as_such) {
  client c;
  auto r = c.call(1, get("/"));  // nothing listens on port 1
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error.what, upstream_error::kind::connect);
  EXPECT_NE(r.error.message.find("refused"), std::string::npos)
      << r.error.message;
}

TEST(upstream, a_response_over_the_limit_fails) {
  auto e = echo::start();
  ASSERT_TRUE(e.proc);
  upstream_options o;
  o.response_limit = 1024;
  client c{o};
  auto req = get("/big");
  req.method = bhttp::verb::post;
  req.body = std::string(4096, 'x');  // echoed back: > 1 KiB
  auto r = c.call(e.port, req);
  ASSERT_FALSE(r.ok) << r.response.status << " " << r.response.body.size();
  EXPECT_EQ(r.error.what, upstream_error::kind::too_large);
  EXPECT_EQ(c.pool().idle_connections(), 0u);  // that connection is not reused
  EXPECT_EQ(e.proc->stop(SIGTERM), 0);
}

TEST(upstream, a_pooled_connection_the_upstream_closed_is_replaced) {
  // One answer per connection, then the server closes it.
  scripted_server s{{ok_keep_alive, ok_keep_alive}, 1};
  client c;
  auto r1 = c.call(s.port, get("/1"));
  ASSERT_TRUE(r1.ok) << r1.error.message;
  ASSERT_EQ(c.pool().idle_connections(), 1u);
  // The pooled connection is dead; the GET goes again on a new one.
  auto r2 = c.call(s.port, get("/2"));
  ASSERT_TRUE(r2.ok) << r2.error.message;
  EXPECT_EQ(r2.response.body, "ok");
  EXPECT_FALSE(r2.response.reused_connection);
  EXPECT_EQ(s.accepted.load(), 2);
}

TEST(upstream, a_post_on_a_closed_pooled_connection_is_not_repeated) {
  scripted_server s{{ok_keep_alive, ok_keep_alive}, 1};
  client c;
  ASSERT_TRUE(c.call(s.port, get("/1")).ok);
  auto post = get("/2");
  post.method = bhttp::verb::post;
  post.body = "x";
  auto r = c.call(s.port, post);
  if (r.ok) {
    // The write itself failed (the close had already arrived), so nothing
    // was sent and a new connection carried it: also correct.
    EXPECT_EQ(s.accepted.load(), 2);
  } else {
    EXPECT_EQ(r.error.what, upstream_error::kind::reset) << r.error.message;
    EXPECT_EQ(s.accepted.load(), 1);
  }
}

TEST(upstream, chunked_bodies_are_assembled) {
  scripted_server s{{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"},
                    1};
  client c;
  auto r = c.call(s.port, get("/"));
  ASSERT_TRUE(r.ok) << r.error.message;
  EXPECT_EQ(r.response.body, "hello world");
}

TEST(upstream, garbage_is_a_protocol_error) {
  scripted_server s{{"SPDY/9 nonsense\r\n\r\n"}, 1};
  client c;
  auto r = c.call(s.port, get("/"));
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.error.what, upstream_error::kind::protocol) << r.error.message;
}
