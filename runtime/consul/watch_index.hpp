#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace valmesh {

/// The indexes of blocking queries (Consul's `X-Consul-Index`) and the
/// queries that wait on them. Every change of the catalog takes the next
/// number of one node-wide sequence and stamps it on the keys it touches (a
/// service's key, the key of the service list...), so each key has its own
/// index: a watch on one service wakes only for changes to that service.
/// A key never touched has index 1 (Consul's indexes start at 1).
///
/// Thread-safe: the registry bumps from its actor, HTTP handlers read and
/// wait from their event loops. Wake-ups run on the bumping thread, outside
/// the lock; they must only hand the work over (post to a loop) and return.
class watch_index {
 public:
  /// Called once with the key's new index when it passes the awaited one.
  using wake_fn = std::function<void(uint64_t index)>;

  /// The current index of `key` (1 if it never changed).
  uint64_t index(const std::string& key) const;

  /// The last number taken by any change (1 before the first change).
  uint64_t last() const;

  /// Stamps the next number on every key of `keys` and wakes their waiters;
  /// returns the number.
  uint64_t bump(const std::vector<std::string>& keys);

  /// Waits until `key`'s index exceeds `seen`. If it already does, `wake`
  /// runs now (on this thread) and the answer is 0; otherwise the answer is
  /// a ticket for `cancel`.
  uint64_t wait(const std::string& key, uint64_t seen, wake_fn wake);

  /// Withdraws a wait; true if it was still waiting (so `wake` will never
  /// run), false if it has run or is running.
  bool cancel(uint64_t ticket);

  /// Wakes every waiter with its key's current index (the node shuts down:
  /// held queries answer now instead of holding the drain).
  void release_all();

  /// Queries waiting now.
  size_t waiting() const;

 private:
  struct waiter {
    uint64_t ticket;
    uint64_t seen;
    wake_fn wake;
  };

  mutable std::mutex mtx_;
  uint64_t last_ = 1;
  uint64_t tickets_ = 0;
  std::unordered_map<std::string, uint64_t> indexes_;
  std::unordered_map<std::string, std::vector<waiter>> waiters_;
  std::unordered_map<uint64_t, std::string> keys_of_;  ///< ticket -> key
};

}  // namespace valmesh
