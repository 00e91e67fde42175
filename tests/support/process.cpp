#include "tests/support/process.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <cstring>

#include <gtest/gtest.h>

extern char** environ;

namespace valmesh::test {

// -- process ------------------------------------------------------------------

namespace {

/// Sanitizer options with the running test's name added to `log_path`, so
/// that a report from a started process says which test started it
/// (scripts/sanitize.sh writes every process's reports into one directory).
std::string with_test_in_log_path(std::string options) {
  auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  auto pos = options.find("log_path=");
  if (info == nullptr || pos == std::string::npos) return options;
  auto end = options.find(':', pos);
  if (end == std::string::npos) end = options.size();
  std::string tag =
      std::string{"."} + info->test_suite_name() + "." + info->name();
  for (auto& c : tag)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_')
      c = '_';
  options.insert(end, tag);
  return options;
}

}  // namespace

std::unique_ptr<process> process::start(
    std::vector<std::string> argv, std::map<std::string, std::string> env) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return nullptr;
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    auto key = kv.substr(0, kv.find('='));
    if (env.count(key) != 0) continue;
    if (key == "ASAN_OPTIONS" || key == "TSAN_OPTIONS" ||
        key == "UBSAN_OPTIONS")
      kv = key + "=" + with_test_in_log_path(kv.substr(key.size() + 1));
    env_strings.push_back(kv);
  }
  for (auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> args, envp;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  auto pid = fork();
  if (pid < 0) return nullptr;
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    // Die with the test runner, so no agent outlives a crashed test.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  std::unique_ptr<process> p{new process};
  p->pid_ = pid;
  p->out_fd_ = out[0];
  p->err_fd_ = err[0];
  p->pid_fd_ = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  p->reader_ = std::thread{[raw = p.get()] { raw->read_loop(); }};
  return p;
}

process::~process() {
  if (!exit_code_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    wait(10s);
  }
  if (reader_.joinable()) reader_.join();
  for (int fd : {out_fd_, err_fd_, pid_fd_})
    if (fd >= 0) close(fd);
}

void process::read_loop() {
  pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
  int open = 2;
  char buf[4096];
  while (open > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      auto n = read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        fds[i].fd = -1;
        --open;
        continue;
      }
      std::lock_guard<std::mutex> guard{mtx_};
      (i == 0 ? out_ : err_).append(buf, static_cast<size_t>(n));
      cv_.notify_all();
    }
  }
  std::lock_guard<std::mutex> guard{mtx_};
  eof_ = true;
  cv_.notify_all();
}

std::optional<std::vector<std::string>> process::wait_for(
    const std::regex& re, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock{mtx_};
  std::smatch m;
  std::string all;
  auto found = [&] {
    all = out_ + "\n" + err_;
    return std::regex_search(all, m, re);
  };
  cv_.wait_for(lock, timeout, [&] { return found() || eof_; });
  if (!found()) return std::nullopt;
  std::vector<std::string> groups;
  for (auto& g : m) groups.push_back(g.str());
  return groups;
}

void process::wait_output_closed(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock{mtx_};
  cv_.wait_for(lock, timeout, [&] { return eof_; });
}

std::optional<int> process::wait(std::chrono::milliseconds timeout) {
  if (exit_code_) return exit_code_;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    auto r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ =
          WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return exit_code_;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    // Block until the process exits (pidfd becomes readable) or time runs out.
    if (pid_fd_ >= 0) {
      pollfd pfd{pid_fd_, POLLIN, 0};
      poll(&pfd, 1, static_cast<int>(left.count()));
    } else {
      std::unique_lock<std::mutex> lock{mtx_};
      cv_.wait_for(lock, std::min(left, std::chrono::milliseconds{10}));
    }
  }
}

std::optional<int> process::stop(int sig, std::chrono::milliseconds timeout) {
  if (!exit_code_) kill(pid_, sig);
  return wait(timeout);
}

std::string process::out() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return out_;
}

std::string process::err() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return err_;
}

run_result run(std::vector<std::string> argv,
               std::map<std::string, std::string> env,
               std::chrono::milliseconds timeout) {
  run_result r;
  auto p = process::start(std::move(argv), std::move(env));
  if (!p) {
    ADD_FAILURE() << "cannot start process";
    return r;
  }
  auto code = p->wait(timeout);
  if (!code) {
    ADD_FAILURE() << "process did not finish within " << timeout.count()
                  << "ms";
    p->stop(SIGKILL);
  }
  p->wait_output_closed(2s);
  r.exit_code = code.value_or(-1);
  r.out = p->out();
  r.err = p->err();
  return r;
}

namespace {

std::string from_env(const char* name, const char* built) {
  auto* v = std::getenv(name);
  return v && *v ? v : built;
}

}  // namespace

const std::string& valmesh_bin() {
  static const std::string path = from_env("VALMESH_BIN", VALMESH_BIN);
  return path;
}

const std::string& valmesh_echo_bin() {
  static const std::string path =
      from_env("VALMESH_ECHO_BIN", VALMESH_ECHO_BIN);
  return path;
}

run_result run_valmesh(std::vector<std::string> args,
                       std::map<std::string, std::string> env) {
  args.insert(args.begin(), valmesh_bin());
  return run(std::move(args), std::move(env));
}

// -- agent and echo -----------------------------------------------------------

agent agent::start_argv(std::vector<std::string> argv) {
  agent a;
  a.proc = process::start(argv);
  if (!a.proc) {
    ADD_FAILURE() << "cannot start valmesh";
    return a;
  }
  auto m = a.proc->wait_for(std::regex{
      R"(valmesh agent started: node=\S+ http=127\.0\.0\.1:(\d+) cluster=\S+:(\d+))"});
  if (!m) {
    ADD_FAILURE() << "valmesh agent did not start:\n"
                  << a.proc->out() << a.proc->err();
    return a;
  }
  a.http_port = static_cast<uint16_t>(std::stoi((*m)[1]));
  a.cluster_port = static_cast<uint16_t>(std::stoi((*m)[2]));
  return a;
}

agent agent::start(std::vector<std::string> extra) {
  std::vector<std::string> argv{valmesh_bin(), "agent",     "--http",
                                "127.0.0.1:0", "--cluster", "127.0.0.1:0",
                                "--dev"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return start_argv(std::move(argv));
}

agent agent::start_durable(const std::string& data_dir,
                           std::vector<std::string> extra) {
  std::vector<std::string> argv{valmesh_bin(), "agent",     "--http",
                                "127.0.0.1:0", "--cluster", "127.0.0.1:0",
                                "--data-dir",  data_dir};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return start_argv(std::move(argv));
}

echo echo::start(std::string name) {
  echo e;
  std::vector<std::string> argv{valmesh_echo_bin(), "--port", "0"};
  if (!name.empty()) {
    argv.push_back("--name");
    argv.push_back(name);
  }
  e.proc = process::start(argv);
  auto m = e.proc ? e.proc->wait_for(std::regex{R"(listening on \S+:(\d+))"})
                  : std::nullopt;
  if (!m) {
    ADD_FAILURE() << "valmesh-echo did not start";
    return e;
  }
  e.port = static_cast<uint16_t>(std::stoi((*m)[1]));
  return e;
}

web::client_response http(
    const endpoint& ep, const std::string& method, const std::string& target,
    const std::string& body,
    std::vector<std::pair<std::string, std::string>> headers) {
  web::client_request req;
  req.method = method;
  req.target = target;
  req.body = body;
  req.headers = std::move(headers);
  auto res = web::send_request(ep, req);
  if (!res) {
    ADD_FAILURE() << method << " " << target << ": " << res.error().message;
    return {};
  }
  return std::move(*res);
}

nlohmann::json parse(const web::client_response& res) {
  auto j = nlohmann::json::parse(res.body, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << res.body;
  return j;
}

// -- raw connections ----------------------------------------------------------

raw_connection::raw_connection(uint16_t port, int receive_buffer) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (receive_buffer > 0)
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer,
               sizeof(receive_buffer));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd_);
    fd_ = -1;
  }
}

raw_connection::~raw_connection() {
  if (fd_ >= 0) close(fd_);
}

void raw_connection::send(const std::string& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    auto n =
        ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

size_t count_responses(const std::string& bytes) {
  size_t count = 0, pos = 0;
  for (;;) {
    auto head_end = bytes.find("\r\n\r\n", pos);
    if (head_end == std::string::npos) return count;
    auto head = bytes.substr(pos, head_end - pos);
    // A plain search, not std::regex: this runs on several threads at once
    // (durability_test's pipelining clients), and compiling regexes there
    // races inside libstdc++ (ctype<char>::narrow's lazily filled table).
    size_t length = 0;
    for (auto& c : head)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (auto at = head.find("content-length:"); at != std::string::npos) {
      auto digits = head.c_str() + at + 15;
      while (*digits == ' ') ++digits;
      length = std::strtoul(digits, nullptr, 10);
    }
    auto end = head_end + 4 + length;
    if (end > bytes.size()) return count;
    ++count;
    pos = end;
  }
}

std::string raw_connection::read_responses(size_t n,
                                           std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  while (count_responses(buffer_) < n) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd pfd{fd_, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) break;
    auto got = recv(fd_, buf, sizeof(buf), 0);
    if (got <= 0) break;
    buffer_.append(buf, static_cast<size_t>(got));
  }
  return buffer_;
}

std::string raw_connection::read_available(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd pfd{fd_, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) break;
    auto got = recv(fd_, buf, sizeof(buf), 0);
    if (got <= 0) break;
    buffer_.append(buf, static_cast<size_t>(got));
  }
  return buffer_;
}

std::optional<std::chrono::milliseconds> raw_connection::wait_closed(
    std::chrono::milliseconds timeout) {
  auto start = std::chrono::steady_clock::now();
  auto deadline = start + timeout;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd pfd{fd_, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
    auto got = recv(fd_, buf, sizeof(buf), 0);
    if (got <= 0)
      return std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - start);
    buffer_.append(buf, static_cast<size_t>(got));
  }
}

}  // namespace valmesh::test
