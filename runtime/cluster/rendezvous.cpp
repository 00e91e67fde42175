#include "runtime/cluster/rendezvous.hpp"

namespace valmesh {

namespace {

constexpr uint64_t fnv_offset = 0xcbf29ce484222325ULL;
constexpr uint64_t fnv_prime = 0x100000001b3ULL;

uint64_t fnv1a(uint64_t h, std::string_view bytes) noexcept {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= fnv_prime;
  }
  return h;
}

/// Mixes the bits of `z` (SplitMix64's finaliser): FNV-1a alone leaves the
/// high bits of similar inputs correlated, which would skew the owners.
uint64_t mix64(uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

uint64_t rendezvous_weight(std::string_view candidate,
                           std::string_view key) noexcept {
  auto h = fnv1a(fnv_offset, candidate);
  // A separator, so that ("ab", "c") and ("a", "bc") hash apart.
  h ^= 0;
  h *= fnv_prime;
  h = fnv1a(h, key);
  return mix64(h);
}

std::string rendezvous_owner(std::string_view key,
                             const std::vector<std::string>& candidates) {
  const std::string* best = nullptr;
  uint64_t best_weight = 0;
  for (const auto& c : candidates) {
    auto w = rendezvous_weight(c, key);
    // Equal weights go to the smaller name, so the owner does not depend on
    // the order of `candidates`.
    if (best == nullptr || w > best_weight || (w == best_weight && c < *best)) {
      best = &c;
      best_weight = w;
    }
  }
  return best != nullptr ? *best : std::string{};
}

}  // namespace valmesh
