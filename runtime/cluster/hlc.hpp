#pragma once

#include <compare>
#include <cstdint>
#include <string>

#include "runtime/common/clock.hpp"

namespace valmesh {

/// A hybrid logical clock (Kulkarni et al., 2014): timestamps that follow
/// wall-clock time where it moves forward and a counter where it does not,
/// so that every write a node makes after seeing another node's write is
/// ordered after it, whatever the two machines' clocks say.
///
/// A timestamp is one `uint64_t`: the high 52 bits are Unix microseconds
/// (enough until the year 2112), the low 12 bits a logical counter. Zero
/// means "no version". Microseconds, not milliseconds: two writes made on
/// two sides of a partition a millisecond apart are ordered as they
/// happened, where a coarser clock would call them a tie and let the node
/// name decide.
class hybrid_clock {
 public:
  explicit hybrid_clock(const clock& clk) noexcept : clock_(clk) {}

  /// Returns a timestamp for a local write: greater than every timestamp
  /// this clock returned or observed before.
  uint64_t now() noexcept;

  /// Takes in a timestamp seen on a message from another node, so that the
  /// next `now()` is greater than it.
  void observe(uint64_t remote) noexcept;

  /// The greatest timestamp returned or observed so far.
  uint64_t last() const noexcept { return last_; }

  /// The bits of the logical counter, and its largest value.
  static constexpr int logical_bits = 12;
  static constexpr uint16_t max_logical = (1u << logical_bits) - 1;

  /// The parts of a timestamp.
  static constexpr int64_t physical_us(uint64_t stamp) noexcept {
    return static_cast<int64_t>(stamp >> logical_bits);
  }
  static constexpr int64_t physical_ms(uint64_t stamp) noexcept {
    return physical_us(stamp) / 1000;
  }
  static constexpr uint16_t logical(uint64_t stamp) noexcept {
    return static_cast<uint16_t>(stamp & max_logical);
  }
  static constexpr uint64_t make(int64_t unix_us, uint16_t logical) noexcept {
    return (static_cast<uint64_t>(unix_us) << logical_bits) |
           (logical & max_logical);
  }

 private:
  const clock& clock_;
  uint64_t last_ = 0;
};

/// The version of one write to the catalog: its hybrid-clock timestamp, and
/// the node that made it, which breaks ties. Versions are totally ordered;
/// the greater one wins (last writer wins).
struct write_version {
  uint64_t stamp = 0;
  std::string origin;

  friend auto operator<=>(const write_version&, const write_version&) = default;
  friend bool operator==(const write_version&, const write_version&) = default;
};

}  // namespace valmesh
