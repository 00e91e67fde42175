#pragma once

#include <cstdint>
#include <random>

namespace valmesh {

/// Advances `state` and returns the next value of SplitMix64: fast, good
/// enough for ids and load balancing, and reproducible from a seed in tests.
inline uint64_t splitmix64(uint64_t& state) noexcept {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// Returns a seed from the operating system's entropy source.
inline uint64_t random_seed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace valmesh
