#pragma once

// Network namespaces made by a test, for partitions between real nodes:
// one namespace per node, each joined by a veth pair to a bridge in a hub
// namespace of its own, so nothing of the machine's own network is touched.
// Needs root and `ip netns`; `make` says why when the machine refuses.

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace valmesh::test {

class netns_lab {
 public:
  /// Makes `n` node namespaces; nothing, with the reason in `why_not`, when
  /// this machine cannot (not root, no `ip`, namespaces refused).
  static std::unique_ptr<netns_lab> make(size_t n, std::string& why_not);

  /// Deletes every namespace it made (processes inside should be gone).
  ~netns_lab();

  netns_lab(const netns_lab&) = delete;
  netns_lab& operator=(const netns_lab&) = delete;

  size_t size() const noexcept { return names_.size(); }

  /// Node `i`'s namespace.
  const std::string& name(size_t i) const { return names_.at(i); }

  /// Node `i`'s address on the bridge (10.99.0.(i+1)).
  std::string address(size_t i) const;

  /// The prefix that runs a command inside node `i`'s namespace.
  std::vector<std::string> exec_prefix(size_t i) const;

  /// Cuts node `i` off from every other node (its link to the bridge goes
  /// down), and brings it back.
  void isolate(size_t i);
  void heal(size_t i);

  /// Drops `percent`% of the packets between nodes `i` and `j`, both ways
  /// (nftables in both namespaces); `percent` 0 removes the rule. Returns
  /// the reason when nftables is missing.
  std::optional<std::string> lose(size_t i, size_t j, int percent);

  /// Runs `f` on a thread that entered node `i`'s namespace, so every
  /// socket it opens is inside (127.0.0.1 there is the node's loopback).
  template <class F>
  std::invoke_result_t<F> in(size_t i, F f) const {
    using result_type = std::invoke_result_t<F>;
    std::optional<
        std::conditional_t<std::is_void_v<result_type>, bool, result_type>>
        result;
    std::thread t{[&] {
      enter(i);
      if constexpr (std::is_void_v<result_type>) {
        f();
        result = true;
      } else {
        result = f();
      }
    }};
    t.join();
    if constexpr (!std::is_void_v<result_type>) return std::move(*result);
  }

 private:
  netns_lab() = default;

  /// Moves the calling thread into node `i`'s network namespace.
  void enter(size_t i) const;

  std::string hub_;
  std::vector<std::string> names_;
};

}  // namespace valmesh::test
