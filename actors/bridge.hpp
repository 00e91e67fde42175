#pragma once

#include <functional>

#include <caf/all.hpp>

namespace valmesh {

/// A unit of work that runs inside the bridge actor, so that code outside
/// the actor system (Beast sessions on asio threads) can `request` actors
/// without blocking: the job sends its request and, in the response handler,
/// calls a completion that posts the result back onto the session's strand.
using bridge_job = std::function<void(caf::event_based_actor*)>;

/// Spawns a bridge: an actor that runs every `bridge_job` it receives.
caf::actor spawn_bridge(caf::actor_system& sys);

}  // namespace valmesh

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(valmesh::bridge_job)
