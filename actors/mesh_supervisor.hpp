#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include <caf/all.hpp>

#include "actors/introspection.hpp"

#include "actors/bulkhead.hpp"
#include "actors/events.hpp"
#include "actors/mesh_directory.hpp"
#include "actors/protocol.hpp"
#include "actors/registry.hpp"
#include "runtime/mesh/mesh_policy.hpp"
#include "runtime/metrics/metrics.hpp"

namespace valmesh {

/// `mesh_supervisor`: one `bulkhead/<service>` per service with instances
/// and one `breaker/<instance>` per instance, spawned and stopped as the
/// registry changes. A crashed bulkhead is rebuilt from what the supervisor
/// knows (instances and their breakers); a crashed breaker starts closed
/// with a new generation.
using mesh_supervisor_actor = caf::typed_actor<
    inspectable,
    /// Changes in the catalog, in order (the registry's `on_change`).
    caf::reacts_to<changed_atom, std::vector<catalog_change>>,
    /// Internal: rebuilds from a registry snapshot (on start).
    caf::reacts_to<resync_atom>,
    /// These instances of a service passed an active health check.
    caf::reacts_to<checked_atom, std::string, std::vector<std::string>>,
    /// Calls the function once every message sent before it is handled (a
    /// caller that missed a bulkhead for a just-registered service waits
    /// for the registration to reach the mesh, then looks again).
    caf::reacts_to<flush_atom, std::function<void()>>,
    /// Answers every bulkhead's figures.
    caf::replies_to<stats_atom>::with<std::vector<bulkhead_view>>>;

struct mesh_options {
  mesh_policies policies;
  std::shared_ptr<const clock> time;
  /// Where calls find the bulkheads (the node owns it).
  mesh_directory* bulkheads = nullptr;
  std::function<registry_actor()> registry;
  std::function<events_actor()> events;
  /// Counts breaker transitions (`GET /metrics`). Optional.
  std::shared_ptr<metrics> meter;
  /// Restart intensity of its children (bulkheads and breakers together);
  /// past it the supervisor exits and node_supervisor restarts it.
  uint32_t intensity = 10;
  std::chrono::milliseconds period{std::chrono::seconds{10}};
};

mesh_supervisor_actor spawn_mesh_supervisor(caf::actor_system& sys,
                                            mesh_options options);

}  // namespace valmesh

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<valmesh::bulkhead_view>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::function<void()>)
