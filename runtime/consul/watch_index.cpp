#include "runtime/consul/watch_index.hpp"

#include <utility>

namespace valmesh {

uint64_t watch_index::index(const std::string& key) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = indexes_.find(key);
  return i == indexes_.end() ? 1 : i->second;
}

uint64_t watch_index::last() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return last_;
}

uint64_t watch_index::bump(const std::vector<std::string>& keys) {
  std::vector<std::pair<wake_fn, uint64_t>> due;
  uint64_t n = 0;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    n = ++last_;
    for (auto& key : keys) {
      indexes_[key] = n;
      auto w = waiters_.find(key);
      if (w == waiters_.end()) continue;
      // Every waiter of the key saw less than n: all of them wake.
      for (auto& x : w->second) {
        keys_of_.erase(x.ticket);
        due.emplace_back(std::move(x.wake), n);
      }
      waiters_.erase(w);
    }
  }
  for (auto& [wake, index] : due) wake(index);
  return n;
}

uint64_t watch_index::wait(const std::string& key, uint64_t seen,
                           wake_fn wake) {
  uint64_t now = 0;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = indexes_.find(key);
    now = i == indexes_.end() ? 1 : i->second;
    if (now <= seen) {
      auto ticket = ++tickets_;
      waiters_[key].push_back({ticket, seen, std::move(wake)});
      keys_of_.emplace(ticket, key);
      return ticket;
    }
  }
  wake(now);
  return 0;
}

bool watch_index::cancel(uint64_t ticket) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto k = keys_of_.find(ticket);
  if (k == keys_of_.end()) return false;
  auto w = waiters_.find(k->second);
  keys_of_.erase(k);
  if (w == waiters_.end()) return false;
  auto& xs = w->second;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (xs[i].ticket != ticket) continue;
    xs[i] = std::move(xs.back());
    xs.pop_back();
    if (xs.empty()) waiters_.erase(w);
    return true;
  }
  return false;
}

void watch_index::release_all() {
  std::vector<std::pair<wake_fn, uint64_t>> due;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& [key, xs] : waiters_) {
      auto i = indexes_.find(key);
      auto now = i == indexes_.end() ? 1 : i->second;
      for (auto& x : xs) due.emplace_back(std::move(x.wake), now);
    }
    waiters_.clear();
    keys_of_.clear();
  }
  for (auto& [wake, index] : due) wake(index);
}

size_t watch_index::waiting() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return keys_of_.size();
}

}  // namespace valmesh
