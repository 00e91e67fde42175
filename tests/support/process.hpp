#pragma once

// Helpers for integration tests: real child processes with captured output,
// an agent started on ephemeral loopback ports, and a raw TCP connection for
// the cases an HTTP client library would hide (pipelining, half requests).

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "http/client.hpp"

namespace valmesh::test {

using namespace std::chrono_literals;

/// A child process whose stdout and stderr are collected by a reader thread.
/// Waiting for output or for exit blocks on events, not on sleeps.
class process {
 public:
  /// Starts `argv` (argv[0] is a path), with `env` added to the environment.
  static std::unique_ptr<process> start(
      std::vector<std::string> argv,
      std::map<std::string, std::string> env = {});

  ~process();

  /// Waits until the combined output has a line matching `re`; returns its
  /// capture groups (index 0 is the whole match), or nothing on timeout/exit.
  std::optional<std::vector<std::string>> wait_for(
      const std::regex& re, std::chrono::milliseconds timeout = 10s);

  /// Waits for the process to exit; returns its exit code (128 + signal if
  /// killed), or nothing on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout = 10s);

  /// Waits until the child closed its stdout and stderr (all output read).
  void wait_output_closed(std::chrono::milliseconds timeout);

  /// Sends `sig`, then waits for the exit.
  std::optional<int> stop(int sig, std::chrono::milliseconds timeout = 10s);

  std::string out() const;
  std::string err() const;
  pid_t pid() const noexcept { return pid_; }

 private:
  process() = default;
  void read_loop();

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  int pid_fd_ = -1;
  std::optional<int> exit_code_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::string out_, err_;
  bool eof_ = false;
  std::thread reader_;
};

/// The result of a command that ran to its end.
struct run_result {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs a command to completion (fails the test if it outlives `timeout`).
run_result run(std::vector<std::string> argv,
               std::map<std::string, std::string> env = {},
               std::chrono::milliseconds timeout = 30s);

/// The binaries the tests start: those built beside the tests, unless the
/// environment names others (`VALMESH_BIN`, `VALMESH_ECHO_BIN`). The TSan
/// run (scripts/sanitize.sh tsan) starts instrumented nodes this way.
const std::string& valmesh_bin();
const std::string& valmesh_echo_bin();

/// Runs `valmesh ARGS...`.
run_result run_valmesh(std::vector<std::string> args,
                       std::map<std::string, std::string> env = {});

/// A `valmesh agent` on ephemeral loopback ports, in --dev mode.
struct agent {
  std::unique_ptr<process> proc;
  uint16_t http_port = 0;
  uint16_t cluster_port = 0;

  /// Starts an agent with `extra` flags and waits for its start-up line.
  /// Fails the test (returns an agent without a process) if it does not start.
  static agent start(std::vector<std::string> extra = {});

  /// Starts `argv` (a command line that runs `valmesh agent` with its
  /// HTTP port on 127.0.0.1, perhaps under a wrapper such as prlimit or
  /// `ip netns exec`) and reads the ports from its start-up line.
  static agent start_argv(std::vector<std::string> argv);

  /// The same without --dev: durable state in `data_dir`.
  static agent start_durable(const std::string& data_dir,
                             std::vector<std::string> extra = {});

  endpoint http() const { return {"127.0.0.1", http_port}; }
  std::string addr() const {
    return "http://127.0.0.1:" + std::to_string(http_port);
  }
};

/// A `valmesh-echo` on an ephemeral port.
struct echo {
  std::unique_ptr<process> proc;
  uint16_t port = 0;
  static echo start(std::string name = {});
};

/// One HTTP request to `ep` with the project's blocking client.
web::client_response http(
    const endpoint& ep, const std::string& method, const std::string& target,
    const std::string& body = {},
    std::vector<std::pair<std::string, std::string>> headers = {});

/// Re-checks `pred` (typically one request to a node) until it holds or
/// `timeout` passes: awaiting a condition, not guessing a delay.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred())
    if (std::chrono::steady_clock::now() >= deadline) return false;
  return true;
}

/// Parses a response body as JSON (a test failure if it is not JSON).
nlohmann::json parse(const web::client_response& res);

/// A plain TCP connection, for raw HTTP bytes.
class raw_connection {
 public:
  /// Connects to 127.0.0.1:port; `receive_buffer` > 0 shrinks the socket's
  /// receive buffer (to play a client that reads slowly).
  explicit raw_connection(uint16_t port, int receive_buffer = 0);
  raw_connection(raw_connection&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)), buffer_(std::move(other.buffer_)) {}
  raw_connection& operator=(raw_connection&&) = delete;
  ~raw_connection();

  bool connected() const noexcept { return fd_ >= 0; }
  void send(const std::string& bytes);

  /// Reads until `n` complete HTTP responses (with Content-Length bodies)
  /// arrived, the peer closed, or the timeout passed; returns all bytes.
  std::string read_responses(size_t n, std::chrono::milliseconds timeout = 5s);

  /// Reads what arrives within `timeout` (for streams); returns all bytes.
  std::string read_available(std::chrono::milliseconds timeout);

  /// Waits until the peer closes the connection; returns how long it took,
  /// or nothing if it stayed open past `timeout`.
  std::optional<std::chrono::milliseconds> wait_closed(
      std::chrono::milliseconds timeout);

 private:
  int fd_ = -1;
  std::string buffer_;
};

/// Counts the complete HTTP responses at the start of `bytes`.
size_t count_responses(const std::string& bytes);

}  // namespace valmesh::test
