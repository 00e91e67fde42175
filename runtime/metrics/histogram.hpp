#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

namespace valmesh {

/// A latency histogram with fixed buckets, as Prometheus keeps them: counts
/// per bucket, the sum and the count. Plain data: one owner writes it (an
/// event loop), copies are merged at scrape time.
///
/// Buckets (upper bounds, seconds; the last is +Inf): 100 µs, 250 µs,
/// 500 µs, 1 ms, 2.5 ms, 5 ms, 10 ms, 25 ms, 50 ms, 100 ms, 250 ms, 500 ms,
/// 1 s, 2.5 s, 5 s, 10 s.
class latency_histogram {
 public:
  static constexpr size_t finite_buckets = 16;
  static constexpr size_t bucket_count = finite_buckets + 1;

  /// The finite upper bounds, in seconds, ascending.
  static const std::array<double, finite_buckets>& bounds() noexcept;

  /// Counts one observation of `seconds` (in the first bucket whose bound
  /// is >= it, as Prometheus's `le`).
  void observe(double seconds) noexcept;

  /// Counts one observation of `us` microseconds.
  void observe_us(int64_t us) noexcept {
    observe(static_cast<double>(us) / 1e6);
  }

  /// Counts `n` observations in bucket `i` (the sum is left as it is).
  void add_to_bucket(size_t i, uint64_t n) noexcept {
    buckets_[i] += n;
    count_ += n;
  }

  /// The bucket an observation of `seconds` falls in.
  static size_t bucket_of(double seconds) noexcept;

  /// Adds `other`'s counts to this one.
  void merge(const latency_histogram& other) noexcept;

  uint64_t count() const noexcept { return count_; }
  double sum() const noexcept { return sum_; }

  /// The count of each bucket (not cumulative); the last is +Inf.
  const std::array<uint64_t, bucket_count>& buckets() const noexcept {
    return buckets_;
  }

  /// The `q` quantile (0..1) estimated as Prometheus's `histogram_quantile`
  /// does: linear interpolation inside the bucket that holds rank q·count;
  /// the first bucket starts at 0, and the +Inf bucket answers the highest
  /// finite bound. 0 when empty.
  double quantile(double q) const noexcept;

 private:
  std::array<uint64_t, bucket_count> buckets_{};
  uint64_t count_ = 0;
  double sum_ = 0;
};

}  // namespace valmesh
