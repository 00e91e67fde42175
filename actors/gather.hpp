#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include <caf/all.hpp>

#include "actors/protocol.hpp"

namespace valmesh {

// Helpers the supervisors share.

/// Asks each of `targets` for its `stats` (answer type `Answer`) and
/// answers the collected `Item`s once all replied or timed out: a
/// supervisor's view of its children. `add(acc, answer)` merges one answer.
template <class Item, class Answer, class Self, class Handles, class Add>
caf::result<std::vector<Item>> gather_stats(Self* self, const Handles& targets,
                                            Add add) {
  if (targets.empty()) return std::vector<Item>{};
  auto rp = self->template make_response_promise<std::vector<Item>>();
  auto acc = std::make_shared<std::vector<Item>>();
  auto pending = std::make_shared<size_t>(targets.size());
  auto one_done = [rp, acc, pending]() mutable {
    if (--*pending == 0) rp.deliver(std::move(*acc));
  };
  for (auto& target : targets)
    self->request(target, std::chrono::seconds{2}, stats_atom::value)
        .then(
            [acc, one_done, add](Answer& x) mutable {
              add(*acc, x);
              one_done();
            },
            [one_done](caf::error&) mutable { one_done(); });
  return rp;
}

/// Calls `f` with every instance of a registry snapshot (a supervisor
/// rebuilding its children after a start), then `done()`; only `done()` if
/// the registry is not running or does not answer.
template <class Self, class Registry, class F, class Done>
void for_each_registered(Self* self, const Registry& registry, F f, Done done) {
  if (!registry) return done();
  self->request(registry, std::chrono::seconds{5}, snapshot_atom::value)
      .then(
          [f, done](std::vector<service_instance>& xs) mutable {
            for (auto& x : xs) f(x);
            done();
          },
          [done](caf::error&) mutable { done(); });
}

template <class Self, class Registry, class F>
void for_each_registered(Self* self, const Registry& registry, F f) {
  for_each_registered(self, registry, std::move(f), [] {});
}

}  // namespace valmesh
