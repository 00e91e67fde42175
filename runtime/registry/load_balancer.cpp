#include "runtime/registry/load_balancer.hpp"

#include <limits>

#include "runtime/common/random.hpp"

namespace valmesh {

std::optional<lb_strategy> parse_strategy(std::string_view text) noexcept {
  if (text == "round-robin") return lb_strategy::round_robin;
  if (text == "random") return lb_strategy::random;
  if (text == "least-connections") return lb_strategy::least_connections;
  if (text == "weighted") return lb_strategy::weighted;
  return std::nullopt;
}

std::string_view to_string(lb_strategy x) noexcept {
  switch (x) {
    case lb_strategy::round_robin:
      return "round-robin";
    case lb_strategy::random:
      return "random";
    case lb_strategy::least_connections:
      return "least-connections";
    case lb_strategy::weighted:
      return "weighted";
  }
  return "round-robin";
}

load_balancer::load_balancer(uint64_t seed) : rng_(seed) {
  // nop
}

std::optional<size_t> load_balancer::pick(
    lb_strategy strategy, const std::vector<lb_candidate>& candidates) {
  auto n = candidates.size();
  if (n == 0) return std::nullopt;
  if (n == 1) return 0;
  switch (strategy) {
    case lb_strategy::round_robin:
      return next_++ % n;
    case lb_strategy::random:
      // Lemire's multiply-shift: unbiased enough for n << 2^32.
      return static_cast<size_t>(
          (static_cast<unsigned __int128>(splitmix64(rng_)) * n) >> 64);
    case lb_strategy::least_connections:
      return pick_least_connections(candidates);
    case lb_strategy::weighted:
      return pick_weighted(candidates);
  }
  return 0;
}

size_t load_balancer::pick_least_connections(
    const std::vector<lb_candidate>& candidates) {
  // Find the least load, then take the tied candidates in turn, so ties are
  // shared evenly instead of always going to the first one.
  uint32_t least = candidates[0].active;
  size_t ties = 0;
  for (auto& c : candidates) {
    if (c.active < least) {
      least = c.active;
      ties = 1;
    } else if (c.active == least) {
      ++ties;
    }
  }
  auto k = next_++ % ties;
  for (size_t i = 0; i < candidates.size(); ++i)
    if (candidates[i].active == least && k-- == 0) return i;
  return 0;
}

size_t load_balancer::pick_weighted(
    const std::vector<lb_candidate>& candidates) {
  // nginx's smooth weighted round-robin: every candidate gains its weight,
  // the largest current weight wins and pays back the total. Over any window
  // of sum(weights) picks, each instance is chosen exactly `weight` times,
  // spread out rather than in bursts.
  int64_t total = 0;
  size_t best = 0;
  int64_t best_weight = std::numeric_limits<int64_t>::min();
  for (size_t i = 0; i < candidates.size(); ++i) {
    auto& c = candidates[i];
    auto& cw = current_weight_[std::string{c.id}];
    cw += c.weight;
    total += c.weight;
    if (cw > best_weight) {
      best_weight = cw;
      best = i;
    }
  }
  current_weight_[std::string{candidates[best].id}] -= total;
  // Forget instances that left the candidate set long ago.
  if (current_weight_.size() > 2 * candidates.size() + 16) {
    std::unordered_map<std::string, int64_t> kept;
    for (auto& c : candidates) {
      auto key = std::string{c.id};
      kept.emplace(key, current_weight_[key]);
    }
    current_weight_.swap(kept);
  }
  return best;
}

}  // namespace valmesh
