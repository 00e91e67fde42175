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
  bulkhead_actor find(const std::string& service) const {
    std::shared_lock<std::shared_mutex> guard{mtx_};
    auto i = bulkheads_.find(service);
    return i == bulkheads_.end() ? bulkhead_actor{} : i->second;
  }

  void set(const std::string& service, bulkhead_actor x) {
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
  std::unordered_map<std::string, bulkhead_actor> bulkheads_;
};

}  // namespace valmesh
