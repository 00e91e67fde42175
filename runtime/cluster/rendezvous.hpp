#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace valmesh {

/// Rendezvous (highest random weight) hashing: the owner of `key` among
/// `candidates` is the candidate whose hash of (candidate, key) is highest.
/// Every node that knows the same candidates picks the same owner, and when
/// a candidate leaves only the keys it owned move. Returns an empty string
/// when there is no candidate.
std::string rendezvous_owner(std::string_view key,
                             const std::vector<std::string>& candidates);

/// The weight `rendezvous_owner` compares: a 64-bit hash of the two strings
/// (stable across processes and machines; not std::hash).
uint64_t rendezvous_weight(std::string_view candidate,
                           std::string_view key) noexcept;

}  // namespace valmesh
