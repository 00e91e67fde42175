#include "tests/support/tracing_support.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include <gtest/gtest.h>

namespace valmesh::test {

http_receiver::http_receiver(int fail_first) : fail_first_(fail_first) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd_, 16) != 0) {
    ADD_FAILURE() << "http_receiver: cannot listen";
    return;
  }
  socklen_t len = sizeof(addr);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread{[this] { run(); }};
}

http_receiver::~http_receiver() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) close(listen_fd_);
}

void http_receiver::run() {
  for (;;) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (stopping_) return;
    }
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;  // re-checks `stopping_`
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) serve(fd);
  }
}

/// Serves the requests of one keep-alive connection until it closes.
void http_receiver::serve(int fd) {
  std::string buf;
  char chunk[65536];
  auto deadline = std::chrono::steady_clock::now() + 10s;
  for (;;) {
    auto head_end = buf.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      auto head = buf.substr(0, head_end);
      size_t length = 0;
      for (auto name : {"Content-Length: ", "content-length: "})
        if (auto at = head.find(name); at != std::string::npos)
          length = std::stoul(head.substr(at + std::strlen(name)));
      if (buf.size() >= head_end + 4 + length) {
        auto body = buf.substr(head_end + 4, length);
        auto line_end = head.find("\r\n");
        auto line = head.substr(0, line_end);
        auto sp1 = line.find(' '), sp2 = line.rfind(' ');
        bool fail;
        {
          std::lock_guard<std::mutex> guard{mtx_};
          fail = requests_ < fail_first_;
          ++requests_;
          last_path_ = line.substr(sp1 + 1, sp2 - sp1 - 1);
          if (!fail) bodies_.push_back(body);
        }
        cv_.notify_all();
        std::string answer =
            fail ? "HTTP/1.1 503 Service Unavailable\r\nContent-Length: "
                   "0\r\n\r\n"
                 : "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                   "Content-Length: 2\r\n\r\n{}";
        ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
        buf.erase(0, head_end + 4 + length);
        continue;
      }
    }
    pollfd p{fd, POLLIN, 0};
    if (std::chrono::steady_clock::now() > deadline || poll(&p, 1, 100) < 0)
      break;
    if (p.revents == 0) {
      std::lock_guard<std::mutex> guard{mtx_};
      if (stopping_) break;
      continue;
    }
    auto n = recv(fd, chunk, sizeof(chunk), 0);
    if (n <= 0) break;
    buf.append(chunk, static_cast<size_t>(n));
  }
  close(fd);
}

std::optional<std::string> http_receiver::next_body(
    std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> guard{mtx_};
  if (!cv_.wait_for(guard, timeout, [&] { return !bodies_.empty(); }))
    return std::nullopt;
  auto b = std::move(bodies_.front());
  bodies_.pop_front();
  return b;
}

std::string http_receiver::last_path() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return last_path_;
}

int http_receiver::requests() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return requests_;
}

bool await_passing(const agent& a, const std::string& service, size_t n,
                   std::chrono::milliseconds timeout) {
  return eventually(
      [&] {
        auto j = parse(http(a.http(), "GET", "/api/mesh"));
        for (auto& s : j["services"])
          if (s["name"] == service) {
            size_t passing = 0;
            for (auto& x : s["instances"]) passing += x["status"] == "passing";
            return passing == n;
          }
        return false;
      },
      timeout);
}

nlohmann::json await_spans(const agent& a, const std::string& trace, size_t n,
                           std::chrono::milliseconds timeout) {
  nlohmann::json spans = nlohmann::json::array();
  eventually(
      [&] {
        auto j =
            parse(http(a.http(), "GET", "/api/tracing/spans?traceId=" + trace));
        spans = j["spans"];
        return spans.size() >= n;
      },
      timeout);
  return spans;
}

nlohmann::json span_of_kind(const nlohmann::json& spans,
                            const std::string& kind) {
  for (auto& s : spans)
    if (s["kind"] == kind) return s;
  return nullptr;
}

}  // namespace valmesh::test
