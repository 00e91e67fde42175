#include "runtime/metrics/second_ring.hpp"

#include <algorithm>

namespace valmesh {

void second_ring::add(int64_t now, bool failed, double latency_s) {
  if (slots_.empty() || slots_.back().second < now) {
    trim(now);
    slots_.push_back({now, 0, {}});
  }
  // A clock never runs back; should `now` be older than the newest slot,
  // the newest takes it.
  auto& s = slots_.back();
  if (failed) ++s.failures;
  ++s.buckets[latency_histogram::bucket_of(latency_s)];
}

window_totals second_ring::sum(int64_t now, int64_t window) const {
  window = std::clamp<int64_t>(window, 1, capacity);
  window_totals out;
  for (auto i = slots_.rbegin(); i != slots_.rend(); ++i) {
    if (i->second <= now - window) break;
    if (i->second > now) continue;
    out.failures += i->failures;
    for (size_t b = 0; b < i->buckets.size(); ++b) {
      out.requests += i->buckets[b];
      out.latency.add_to_bucket(b, i->buckets[b]);
    }
  }
  return out;
}

void second_ring::trim(int64_t now) {
  while (!slots_.empty() && slots_.front().second <= now - capacity)
    slots_.pop_front();
}

}  // namespace valmesh
