#include "runtime/mesh/retry.hpp"

#include <algorithm>

#include "runtime/common/random.hpp"

namespace valmesh {

std::optional<backoff_kind> parse_backoff(std::string_view text) noexcept {
  if (text == "fixed") return backoff_kind::fixed;
  if (text == "linear") return backoff_kind::linear;
  if (text == "exponential") return backoff_kind::exponential;
  return std::nullopt;
}

std::optional<jitter_kind> parse_jitter(std::string_view text) noexcept {
  if (text == "none") return jitter_kind::none;
  if (text == "full") return jitter_kind::full;
  if (text == "equal") return jitter_kind::equal;
  if (text == "decorrelated") return jitter_kind::decorrelated;
  return std::nullopt;
}

clock::duration backoff::uniform(clock::duration lo, clock::duration hi) {
  if (hi <= lo) return lo;
  auto span = static_cast<uint64_t>((hi - lo).count()) + 1;
  return lo + clock::duration{static_cast<int64_t>(splitmix64(rng_) % span)};
}

clock::duration backoff::next(uint32_t n) {
  using namespace std::chrono;
  n = std::max<uint32_t>(n, 1);
  clock::duration d{};
  switch (policy_.kind) {
    case backoff_kind::fixed:
      d = policy_.base;
      break;
    case backoff_kind::linear:
      d = policy_.base * n;
      break;
    case backoff_kind::exponential:
      // base * 2^(n-1), without overflowing for large n.
      d = n > 31 ? policy_.max : policy_.base * (int64_t{1} << (n - 1));
      break;
  }
  d = std::min(d, policy_.max);
  switch (policy_.jitter) {
    case jitter_kind::none:
      return d;
    case jitter_kind::full:
      return uniform(clock::duration{0}, d);
    case jitter_kind::equal:
      return d / 2 + uniform(clock::duration{0}, d / 2);
    case jitter_kind::decorrelated: {
      auto hi = std::min(policy_.max, previous_ * 3);
      previous_ = std::min(policy_.max,
                           uniform(policy_.base, std::max(hi, policy_.base)));
      return previous_;
    }
  }
  return d;
}

retry_budget::bucket& retry_budget::at(clock::time_point now) {
  auto second =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch())
          .count();
  auto& b = ring_[static_cast<size_t>(second) % buckets];
  if (b.second != second) b = bucket{second, 0, 0};
  return b;
}

void retry_budget::sums(clock::time_point now, uint64_t& requests,
                        uint64_t& retries) const {
  auto second =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch())
          .count();
  requests = retries = 0;
  for (auto& b : ring_)
    if (b.second > second - static_cast<int64_t>(buckets) &&
        b.second <= second) {
      requests += b.requests;
      retries += b.retries;
    }
}

void retry_budget::on_request(clock::time_point now) {
  ++at(now).requests;
}

bool retry_budget::try_retry(clock::time_point now) {
  auto& current = at(now);
  uint64_t requests = 0, retries = 0;
  sums(now, requests, retries);
  // The floor applies per second; the ratio over the whole window.
  bool under_floor = current.retries < min_per_second_;
  bool under_ratio = static_cast<double>(retries + 1) <= ratio_ * requests;
  if (!under_floor && !under_ratio) return false;
  ++current.retries;
  return true;
}

namespace detail {

uint64_t seed_of(const retry_options& o) {
  if (o.seed != 0) return o.seed;
  // The OS's entropy once per thread, then SplitMix64: opening
  // std::random_device per call costs a system call (15% of a proxied
  // request's CPU when measured).
  thread_local uint64_t state = random_seed();
  return splitmix64(state);
}

std::optional<clock::duration> plan_retry(
    const retry_options& o, backoff& b, uint32_t retries_done, const failure& f,
    clock::time_point now, std::optional<clock::time_point> deadline) {
  if (retries_done >= o.max_retries) return std::nullopt;
  auto wait = b.next(retries_done + 1);
  // No point waiting past the deadline for an attempt that cannot finish.
  if (deadline && now + wait >= *deadline) return std::nullopt;
  // Asked last, so that a predicate with a cost (a retry budget) is only
  // charged for retries that happen.
  if (o.retryable && !o.retryable(f)) return std::nullopt;
  if (o.on_retry) o.on_retry(retries_done + 1, f, wait);
  return wait;
}

}  // namespace detail

}  // namespace valmesh
