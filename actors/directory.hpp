#pragma once

#include <mutex>

#include <caf/all.hpp>

#include "actors/registry.hpp"

namespace valmesh {

/// Where code outside the actor system finds the current handle of a
/// supervised actor. A supervisor's start function writes the new handle on
/// each (re)start; HTTP handlers read it per request (an uncontended lock).
class directory {
 public:
  registry_actor registry() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return registry_;
  }

  void set_registry(registry_actor x) {
    std::lock_guard<std::mutex> guard{mtx_};
    registry_ = std::move(x);
  }

  caf::actor bridge() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return bridge_;
  }

  void set_bridge(caf::actor x) {
    std::lock_guard<std::mutex> guard{mtx_};
    bridge_ = std::move(x);
  }

  /// Drops every handle, so nothing outside keeps an actor alive.
  void clear() {
    std::lock_guard<std::mutex> guard{mtx_};
    registry_ = nullptr;
    bridge_ = nullptr;
  }

 private:
  mutable std::mutex mtx_;
  registry_actor registry_;
  caf::actor bridge_;
};

}  // namespace valmesh
