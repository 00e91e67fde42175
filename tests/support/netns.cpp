#include "tests/support/netns.hpp"

#include <gtest/gtest.h>

#include "tests/support/process.hpp"

namespace valmesh::test {

namespace {

/// Where iproute2's `ip` is (processes are started without a PATH search).
const char* ip_path() {
  for (auto p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"})
    if (::access(p, X_OK) == 0) return p;
  return "/usr/sbin/ip";
}

/// Runs `ip ARGS...`; the error output when it fails.
std::optional<std::string> ip(std::vector<std::string> args) {
  args.insert(args.begin(), ip_path());
  auto r = run(std::move(args));
  if (r.exit_code == 0) return std::nullopt;
  return r.err.empty() ? "exit code " + std::to_string(r.exit_code) : r.err;
}

/// Like `ip`, but a failure fails the test.
void must(std::vector<std::string> args) {
  auto line = std::string{"ip"};
  for (auto& a : args) line += " " + a;
  if (auto err = ip(std::move(args))) ADD_FAILURE() << line << ": " << *err;
}

std::string peer_table(size_t j) {
  return "valmesh_loss_" + std::to_string(j);
}

}  // namespace

std::unique_ptr<netns_lab> netns_lab::make(size_t n, std::string& why_not) {
  if (::geteuid() != 0) {
    why_not = "network namespaces need root (the test runs as uid " +
              std::to_string(::geteuid()) + ")";
    return nullptr;
  }
  if (::access(ip_path(), X_OK) != 0) {
    why_not = "the `ip` command (iproute2) is not installed";
    return nullptr;
  }
  std::unique_ptr<netns_lab> lab{new netns_lab};
  auto tag = "vm" + std::to_string(::getpid());
  lab->hub_ = tag + "-hub";
  if (auto err = ip({"netns", "add", lab->hub_})) {
    why_not = "`ip netns add` is refused here: " + *err;
    lab->hub_.clear();
    return nullptr;
  }
  must({"-n", lab->hub_, "link", "add", "br0", "type", "bridge"});
  must({"-n", lab->hub_, "link", "set", "br0", "up"});
  for (size_t i = 0; i < n; ++i) {
    auto ns = tag + "-" + std::to_string(i);
    auto outer =
        "v" + std::to_string(::getpid() % 100000) + "-" + std::to_string(i);
    if (auto err = ip({"netns", "add", ns})) {
      why_not = "`ip netns add` is refused here: " + *err;
      return nullptr;
    }
    lab->names_.push_back(ns);
    must({"link", "add", outer, "netns", lab->hub_, "type", "veth", "peer",
          "name", "eth0", "netns", ns});
    must({"-n", lab->hub_, "link", "set", outer, "master", "br0"});
    must({"-n", lab->hub_, "link", "set", outer, "up"});
    must({"-n", ns, "addr", "add", lab->address(i) + "/24", "dev", "eth0"});
    must({"-n", ns, "link", "set", "eth0", "up"});
    must({"-n", ns, "link", "set", "lo", "up"});
  }
  return lab;
}

netns_lab::~netns_lab() {
  for (auto& ns : names_) ip({"netns", "del", ns});
  if (!hub_.empty()) ip({"netns", "del", hub_});
}

std::string netns_lab::address(size_t i) const {
  return "10.99.0." + std::to_string(i + 1);
}

std::vector<std::string> netns_lab::exec_prefix(size_t i) const {
  return {ip_path(), "netns", "exec", name(i)};
}

void netns_lab::isolate(size_t i) {
  must({"-n", hub_, "link", "set",
        "v" + std::to_string(::getpid() % 100000) + "-" + std::to_string(i),
        "down"});
}

void netns_lab::heal(size_t i) {
  must({"-n", hub_, "link", "set",
        "v" + std::to_string(::getpid() % 100000) + "-" + std::to_string(i),
        "up"});
}

std::optional<std::string> netns_lab::lose(size_t i, size_t j, int percent) {
  for (auto [from, to] : {std::pair{i, j}, std::pair{j, i}}) {
    auto nft = exec_prefix(from);
    nft.push_back("/usr/sbin/nft");
    auto table = peer_table(to);
    auto del = nft;
    for (auto a : {"delete", "table", "inet"}) del.push_back(a);
    del.push_back(table);
    run(del);  // absent the first time
    if (percent <= 0) continue;
    auto script = "add table inet " + table + "\n" + "add chain inet " + table +
                  " out { type filter hook output priority 0; }\n" +
                  "add rule inet " + table + " out ip daddr " + address(to) +
                  " numgen random mod 100 < " + std::to_string(percent) +
                  " drop\n";
    auto sh = exec_prefix(from);
    sh.insert(sh.end(),
              {"/bin/sh", "-c",
               "printf '%s' \"$0\" | /usr/sbin/nft -f /dev/stdin", script});
    auto r = run(sh);
    if (r.exit_code != 0) return "nftables cannot drop packets here: " + r.err;
  }
  return std::nullopt;
}

void netns_lab::enter(size_t i) const {
  auto path = "/var/run/netns/" + name(i);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0)
    ADD_FAILURE() << "cannot enter the network namespace " << name(i);
  if (fd >= 0) ::close(fd);
}

}  // namespace valmesh::test
