#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace valmesh {

/// The load-balancing strategies of `resolve` and the mesh.
enum class lb_strategy : uint8_t {
  round_robin,        ///< each candidate in turn
  random,             ///< uniformly at random
  least_connections,  ///< fewest calls in flight; ties taken in turn
  weighted,           ///< smooth weighted round-robin (nginx's algorithm)
};

/// Parses `round-robin`, `random`, `least-connections` or `weighted`.
std::optional<lb_strategy> parse_strategy(std::string_view text) noexcept;

/// Returns the name `parse_strategy` reads.
std::string_view to_string(lb_strategy x) noexcept;

/// How discovery picks an instance (the original system's
/// `getService(name, {healthyOnly, strategy})`).
struct resolve_options {
  lb_strategy strategy = lb_strategy::round_robin;
  /// Only passing or warning instances.
  bool healthy_only = false;
};

/// What the balancer needs to know of one instance.
struct lb_candidate {
  std::string_view id;
  uint32_t weight = 1;
  uint32_t active = 0;  ///< calls in flight, for least-connections
};

/// Chooses one instance among candidates. One balancer per service keeps the
/// rotation and the weighted state between picks. The candidate list may
/// change between calls (health, breakers); state for instances that are gone
/// is dropped.
class load_balancer {
 public:
  /// `seed` drives `random`; tests pass a fixed one.
  explicit load_balancer(uint64_t seed);

  /// Returns the index into `candidates` of the chosen instance, or nothing
  /// when the list is empty.
  std::optional<size_t> pick(lb_strategy strategy,
                             const std::vector<lb_candidate>& candidates);

 private:
  size_t pick_weighted(const std::vector<lb_candidate>& candidates);
  size_t pick_least_connections(const std::vector<lb_candidate>& candidates);

  uint64_t next_ = 0;  ///< rotation counter of round-robin and ties
  uint64_t rng_;
  /// Smooth WRR: the current weight of each instance, by id.
  std::unordered_map<std::string, int64_t> current_weight_;
};

}  // namespace valmesh
