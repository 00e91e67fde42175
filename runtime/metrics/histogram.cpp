#include "runtime/metrics/histogram.hpp"

#include <algorithm>

namespace valmesh {

const std::array<double, latency_histogram::finite_buckets>&
latency_histogram::bounds() noexcept {
  static constexpr std::array<double, finite_buckets> b{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
  return b;
}

size_t latency_histogram::bucket_of(double seconds) noexcept {
  auto& b = bounds();
  return static_cast<size_t>(std::lower_bound(b.begin(), b.end(), seconds) -
                             b.begin());
}

void latency_histogram::observe(double seconds) noexcept {
  ++buckets_[bucket_of(seconds)];
  ++count_;
  sum_ += seconds;
}

void latency_histogram::merge(const latency_histogram& other) noexcept {
  for (size_t i = 0; i < bucket_count; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ += other.sum_;
}

double latency_histogram::quantile(double q) const noexcept {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  auto rank = q * static_cast<double>(count_);
  auto& b = bounds();
  uint64_t below = 0;
  for (size_t i = 0; i < bucket_count; ++i) {
    auto here = buckets_[i];
    if (here == 0 || static_cast<double>(below + here) < rank) {
      below += here;
      continue;
    }
    if (i == finite_buckets) return b.back();
    double lower = i == 0 ? 0 : b[i - 1];
    double upper = b[i];
    auto into = (rank - static_cast<double>(below)) / static_cast<double>(here);
    return lower + (upper - lower) * into;
  }
  return b.back();
}

}  // namespace valmesh
