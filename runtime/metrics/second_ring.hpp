#pragma once

#include <array>
#include <cstdint>
#include <deque>

#include "runtime/metrics/histogram.hpp"

namespace valmesh {

/// Requests, failures and latencies over a stretch of time (the latency
/// histogram's buckets and count; its sum is not kept).
struct window_totals {
  uint64_t requests = 0;
  uint64_t failures = 0;
  latency_histogram latency;

  void merge(const window_totals& other) noexcept {
    requests += other.requests;
    failures += other.failures;
    latency.merge(other.latency);
  }
};

/// Per-second aggregates of the last `capacity` seconds, for windowed
/// figures (`GET /api/stats`) without a time-series database. Only seconds
/// that saw a request take memory, so an idle series costs nothing.
/// Seconds are any monotonic count (the node uses its steady clock); the
/// owner passes the current one. A second costs 80 bytes (32-bit counts).
class second_ring {
 public:
  /// The longest window the ring answers, in seconds.
  static constexpr int64_t capacity = 60;

  /// Counts one request of `latency_s` seconds at second `now`.
  void add(int64_t now, bool failed, double latency_s);

  /// The totals of the seconds in (now - window, now]; `window` is clamped
  /// to 1..capacity.
  window_totals sum(int64_t now, int64_t window) const;

  /// Forgets seconds older than the capacity (at `now`).
  void trim(int64_t now);

  bool empty() const noexcept { return slots_.empty(); }

 private:
  struct slot {
    int64_t second = 0;
    uint32_t failures = 0;
    std::array<uint32_t, latency_histogram::bucket_count> buckets{};
  };
  std::deque<slot> slots_;  ///< ascending seconds
};

}  // namespace valmesh
