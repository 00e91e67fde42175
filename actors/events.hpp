#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <caf/all.hpp>

#include "actors/introspection.hpp"

#include "actors/protocol.hpp"

namespace valmesh {

/// Receives events for one subscriber. Called inside the events actor, so it
/// must only hand the event over (post it to a strand) and return: a slow
/// subscriber then slows nobody but itself.
using event_sink = std::function<void(const event_record&)>;

/// The pub/sub hub of a node: registrations, health and breaker transitions.
using events_actor = caf::typed_actor<
    inspectable,
    /// Publishes an event of `type` with JSON `data`; gives it the next id.
    caf::reacts_to<publish_atom, std::string, std::string>,
    /// Publishes several (type, data) events in order, one id each.
    caf::reacts_to<publish_atom,
                   std::vector<std::pair<std::string, std::string>>>,
    /// Subscribes `sink`; first replays the backlog after `last_event_id` (0:
    /// nothing), preceded by a `lagged` event if some of it fell off. Answers
    /// the subscription id.
    caf::replies_to<subscribe_atom, event_sink, uint64_t>::with<uint64_t>,
    /// Ends a subscription.
    caf::reacts_to<unsub_atom, uint64_t>,
    /// Answers (subscribers, last event id).
    caf::replies_to<stats_atom>::with<uint64_t, uint64_t>>;

/// Spawns the hub with a backlog of `backlog` events for resuming.
events_actor spawn_events(caf::actor_system& sys, size_t backlog);

}  // namespace valmesh

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(valmesh::event_sink)
