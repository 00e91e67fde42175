#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#include <caf/all.hpp>

#include "actors/cluster.hpp"
#include "actors/events.hpp"
#include "actors/health.hpp"
#include "actors/mesh_directory.hpp"
#include "actors/mesh_supervisor.hpp"
#include "actors/registry.hpp"
#include "actors/store.hpp"
#include "actors/tracer.hpp"

namespace valmesh {

/// Where code outside an actor (HTTP handlers, the registry's change hook,
/// other actors' options) finds the current handle of a supervised actor. A
/// supervisor's start function writes the new handle on each (re)start;
/// readers take it per use (an uncontended lock), so a restart is invisible
/// to them.
class directory {
 public:
  registry_actor registry() const { return get(registry_); }
  store_actor store() const { return get(store_); }

  /// Waits until a registry is published (the supervisor starts its
  /// children asynchronously), at most `timeout`; null if none came.
  registry_actor await_registry(std::chrono::milliseconds timeout) const {
    return await(registry_, timeout);
  }

  /// The same for the mesh supervisor.
  mesh_supervisor_actor await_mesh_supervisor(
      std::chrono::milliseconds timeout) const {
    return await(mesh_sup_, timeout);
  }
  caf::actor bridge() const { return get(bridge_); }
  /// The root of the supervision tree (node_supervisor).
  caf::actor root() const { return get(root_); }
  void set_root(caf::actor x) { put(root_, std::move(x)); }
  events_actor events() const { return get(events_); }
  health_supervisor_actor health_supervisor() const { return get(health_); }
  health_aggregator_actor health_aggregator() const { return get(aggregator_); }
  mesh_supervisor_actor mesh_supervisor() const { return get(mesh_sup_); }
  tracer_actor tracer() const { return get(tracer_); }
  cluster_actor cluster() const { return get(cluster_); }

  void set(registry_actor x) { put(registry_, std::move(x)); }
  void set(store_actor x) { put(store_, std::move(x)); }
  void set(caf::actor x) { put(bridge_, std::move(x)); }
  void set(events_actor x) { put(events_, std::move(x)); }
  void set(health_supervisor_actor x) { put(health_, std::move(x)); }
  void set(health_aggregator_actor x) { put(aggregator_, std::move(x)); }
  void set(mesh_supervisor_actor x) { put(mesh_sup_, std::move(x)); }
  void set(tracer_actor x) { put(tracer_, std::move(x)); }
  void set(cluster_actor x) { put(cluster_, std::move(x)); }

  /// The bulkheads by service (the mesh supervisor keeps it current).
  mesh_directory& bulkheads() noexcept { return bulkheads_; }
  const mesh_directory& bulkheads() const noexcept { return bulkheads_; }

  /// Drops every handle, so nothing outside keeps an actor alive.
  void clear() {
    std::lock_guard<std::mutex> guard{mtx_};
    registry_ = nullptr;
    store_ = nullptr;
    bridge_ = nullptr;
    root_ = nullptr;
    events_ = nullptr;
    health_ = nullptr;
    aggregator_ = nullptr;
    mesh_sup_ = nullptr;
    tracer_ = nullptr;
    cluster_ = nullptr;
    bulkheads_.clear();
  }

 private:
  template <class T>
  T await(const T& slot, std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> guard{mtx_};
    cv_.wait_for(guard, timeout, [&] { return slot != nullptr; });
    return slot;
  }

  template <class T>
  T get(const T& x) const {
    std::lock_guard<std::mutex> guard{mtx_};
    return x;
  }

  template <class T>
  void put(T& slot, T x) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      slot = std::move(x);
    }
    cv_.notify_all();
  }

  mutable std::mutex mtx_;
  mutable std::condition_variable cv_;
  registry_actor registry_;
  store_actor store_;
  caf::actor bridge_;
  caf::actor root_;
  events_actor events_;
  health_supervisor_actor health_;
  health_aggregator_actor aggregator_;
  mesh_supervisor_actor mesh_sup_;
  tracer_actor tracer_;
  cluster_actor cluster_;
  mesh_directory bulkheads_;
};

}  // namespace valmesh
