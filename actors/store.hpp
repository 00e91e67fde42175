#pragma once

#include <chrono>
#include <cstdint>
#include <memory>

#include <caf/all.hpp>

#include "actors/introspection.hpp"
#include "actors/protocol.hpp"
#include "runtime/metrics/metrics.hpp"
#include "runtime/store/durable_store.hpp"

namespace valmesh {

/// The node's durable state: the catalog's mutations in the data dir (or in
/// memory with `--dev`), for the registry to rebuild from.
using store_actor = caf::typed_actor<
    inspectable,
    /// Appends a mutation; answers the number of records appended so far once
    /// it is durable (fsynced). Appends that arrive together share one fsync
    /// (group commit).
    caf::replies_to<append_atom, store_mutation>::with<uint64_t>,
    /// Appends mutations nobody waits for (writes replicated from other
    /// nodes, whose durability is their origin's): they share the fsync of
    /// the next group, and are fsynced at the latest `lazy_sync` after the
    /// first of them. No answer.
    caf::reacts_to<append_atom, std::vector<store_mutation>>,
    /// Answers every instance the store holds and the index to resume from.
    caf::replies_to<load_atom>::with<store_contents>,
    /// Internal: fsyncs what was appended and answers those appends (sent to
    /// itself after the first append of a group).
    caf::reacts_to<flush_atom>>;

/// How a store is spawned.
struct store_options {
  /// The backend, shared by every incarnation of the actor (the node owns
  /// it): a restarted store recovers from it and loses nothing acknowledged.
  std::shared_ptr<store_backend> backend;
  /// Runs the actor on a thread of its own, so that an fsync never blocks
  /// one of CAF's few scheduler workers (the node sets it for the durable
  /// store; the DSL tests need the deterministic scheduler).
  bool detached = false;
  /// How long mutations appended without an answer may wait for their
  /// fsync when no other append comes to share it.
  std::chrono::milliseconds lazy_sync{std::chrono::milliseconds{50}};
  /// Counts appends, fsyncs (their latency), compactions and the bytes on
  /// disk (`valmesh_store_*`). Optional.
  std::shared_ptr<metrics> meter;
};

/// Spawns a store over `options.backend`. If the backend is dirty (its last
/// owner died with appends in flight), it recovers first.
store_actor spawn_store(caf::actor_system& sys, store_options options);

}  // namespace valmesh

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<valmesh::store_mutation>)
