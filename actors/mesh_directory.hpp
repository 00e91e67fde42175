#pragma once

#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "actors/bulkhead.hpp"

namespace valmesh {

/// Where a mesh call finds the bulkhead of a service: written by the
/// mesh supervisor as bulkheads start, restart and stop; read once per
/// attempt by HTTP threads (a shared lock: readers never wait on readers).
class mesh_directory {
 public:
  /// A service's bulkhead and the gate it owns.
  struct entry {
    bulkhead_actor actor;
    std::shared_ptr<bulkhead_gate> gate;
    explicit operator bool() const noexcept { return actor && gate; }
  };

  entry find(const std::string& service) const {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    auto i = bulkheads_.find(service);
    return i == bulkheads_.end() ? entry{} : i->second;
  }

  void set(const std::string& service, entry x) {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    bulkheads_[service] = std::move(x);
  }

  void erase(const std::string& service) {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    bulkheads_.erase(service);
  }

  void clear() {
    std::unique_lock<std::shared_mutex> guard{mtx_};
    bulkheads_.clear();
  }

 private:
  mutable std::shared_mutex mtx_;
  std::unordered_map<std::string, entry> bulkheads_;
};

}  // namespace valmesh
