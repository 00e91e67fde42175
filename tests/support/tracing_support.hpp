#pragma once

// Helpers for the tracing integration tests: a tiny HTTP receiver (for OTLP
// export and the like) and span lookups on an agent.

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"

namespace valmesh::test {

/// An HTTP/1.1 server on an ephemeral loopback port, in its own thread, that
/// records each request body and answers it (`fail_first` requests with
/// 503, then 200). Waiting for a body blocks on a condition variable.
class http_receiver {
 public:
  explicit http_receiver(int fail_first = 0);
  ~http_receiver();

  uint16_t port() const noexcept { return port_; }

  /// The next body received (in order), or nothing after `timeout`.
  std::optional<std::string> next_body(std::chrono::milliseconds timeout);

  /// The path of the last request.
  std::string last_path() const;

  /// Requests answered so far.
  int requests() const;

 private:
  void run();
  void serve(int fd);

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  int fail_first_;
  bool stopping_ = false;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<std::string> bodies_;
  std::string last_path_;
  int requests_ = 0;
  std::thread thread_;
};

/// Writes `cfg` to a temporary file and returns its path.
/// A config file of this test process (ctest runs tests in parallel: a
/// shared name let one test start with another's upstream ports).
inline std::string write_temp_config(const std::string& name,
                                     const nlohmann::json& cfg) {
  auto path = ::testing::TempDir() + "/" + name + "-" +
              std::to_string(::getpid()) + ".json";
  std::ofstream{path} << cfg.dump();
  return path;
}

/// Waits until `service` has `n` passing instances in `a`'s mesh.
bool await_passing(const agent& a, const std::string& service, size_t n,
                   std::chrono::milliseconds timeout = 10s);

/// The spans of trace `trace` in `a`'s buffer, once there are at least `n`
/// (or what there is after `timeout`).
nlohmann::json await_spans(const agent& a, const std::string& trace, size_t n,
                           std::chrono::milliseconds timeout = 5s);

/// The first span of `spans` with `kind`, or null JSON.
nlohmann::json span_of_kind(const nlohmann::json& spans,
                            const std::string& kind);

}  // namespace valmesh::test
