#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>

#include "runtime/common/clock.hpp"
#include "runtime/common/error.hpp"

namespace valmesh {

/// How the wait between attempts grows (policy key `backoff`).
enum class backoff_kind : uint8_t { fixed, linear, exponential };

/// How the wait is randomised (policy key `jitter`; AWS's names).
enum class jitter_kind : uint8_t { none, full, equal, decorrelated };

std::optional<backoff_kind> parse_backoff(std::string_view text) noexcept;
std::optional<jitter_kind> parse_jitter(std::string_view text) noexcept;

/// The waits between attempts (`d` is the wait before jitter, `n` the retry).
///
/// | name   | default     | meaning                                                                                  |
/// |--------|-------------|------------------------------------------------------------------------------------------|
/// | kind   | exponential | fixed: base; linear: base*n; exponential: base*2^(n-1)                                   |
/// | base   | 100ms       | `retryDelay`                                                                             |
/// | max    | 2s          | `maxDelay`: no wait is longer                                                            |
/// | jitter | full        | none; full: U(0, d); equal: d/2 + U(0, d/2); decorrelated: min(max, U(base, 3*previous)) |
struct backoff_policy {
  backoff_kind kind = backoff_kind::exponential;
  clock::duration base = std::chrono::milliseconds{100};
  clock::duration max = std::chrono::seconds{2};
  jitter_kind jitter = jitter_kind::full;
};

/// The waits of one call's retries. Deterministic for a given seed.
class backoff {
 public:
  backoff(backoff_policy policy, uint64_t seed)
      : policy_(policy), rng_(seed), previous_(policy.base) {}

  /// The wait before retry number `n` (1 = the first retry).
  clock::duration next(uint32_t n);

 private:
  clock::duration uniform(clock::duration lo, clock::duration hi);

  backoff_policy policy_;
  uint64_t rng_;
  clock::duration previous_;
};

/// Envoy-style retry budget: retries may be at most `ratio` of the requests
/// seen in the last `window`, but `min_per_second` retries per second are
/// always allowed, so a quiet service can still retry. It keeps a burst of
/// failures from turning into a retry storm.
class retry_budget {
 public:
  /// | ratio 0.2 | min_per_second 10 | window 10s (in 1s buckets) |
  explicit retry_budget(double ratio = 0.2, uint32_t min_per_second = 10)
      : ratio_(ratio), min_per_second_(min_per_second) {}

  /// Counts a request (first attempts only).
  void on_request(clock::time_point now);

  /// Asks for one retry; counts it if allowed.
  bool try_retry(clock::time_point now);

 private:
  static constexpr size_t buckets = 10;
  struct bucket {
    int64_t second = -1;
    uint64_t requests = 0;
    uint64_t retries = 0;
  };
  bucket& at(clock::time_point now);
  void sums(clock::time_point now, uint64_t& requests, uint64_t& retries) const;

  double ratio_;
  uint32_t min_per_second_;
  std::array<bucket, buckets> ring_{};
};

/// Options of the retry utility (the original system's
/// `retry(fn, {maxRetries, retryDelay, backoffStrategy, retryable})`).
struct retry_options {
  uint32_t max_retries = 3;
  backoff_policy backoff;
  /// A deadline over all attempts and waits; nothing: no limit.
  std::optional<clock::duration> timeout;
  /// Which failures are worth another attempt; empty: all.
  std::function<bool(const failure&)> retryable;
  /// Called before each wait with the retry number, the failure and the wait.
  std::function<void(uint32_t, const failure&, clock::duration)> on_retry;
  uint64_t seed = 0;  ///< 0: from the OS
};

namespace detail {

/// What to do after a failed attempt: the wait, or nothing to give up.
std::optional<clock::duration> plan_retry(
    const retry_options& o, backoff& b, uint32_t retries_done, const failure& f,
    clock::time_point now, std::optional<clock::time_point> deadline);

uint64_t seed_of(const retry_options& o);

}  // namespace detail

/// Calls `fn` until it succeeds, a failure is not retryable, the retries or
/// the deadline run out. Blocking: for tools and set-up code, not for a
/// thread that serves requests. `sleep` and `time` are injectable for tests.
template <class T>
expected<T> retry(
    const std::function<expected<T>()>& fn, const retry_options& options,
    const clock& time = system_clock_source{},
    const std::function<void(clock::duration)>& sleep = [](clock::duration d) {
      std::this_thread::sleep_for(d);
    }) {
  backoff b{options.backoff, detail::seed_of(options)};
  std::optional<clock::time_point> deadline;
  if (options.timeout) deadline = time.now() + *options.timeout;
  for (uint32_t retries = 0;; ++retries) {
    auto r = fn();
    if (r) return r;
    auto wait = detail::plan_retry(options, b, retries, r.error(), time.now(),
                                   deadline);
    if (!wait) return r;
    sleep(*wait);
  }
}

/// The asynchronous form: `fn` starts an attempt and calls its argument with
/// the result; waits go through `schedule(delay, continuation)` (an asio
/// timer in the node; never a sleeping thread); `done` gets the final result.
template <class T>
void async_retry(
    std::function<void(std::function<void(expected<T>)>)> fn,
    retry_options options, const clock& time,
    std::function<void(clock::duration, std::function<void()>)> schedule,
    std::function<void(expected<T>)> done) {
  struct op : std::enable_shared_from_this<op> {
    std::function<void(std::function<void(expected<T>)>)> fn;
    retry_options options;
    const clock* time;
    std::function<void(clock::duration, std::function<void()>)> schedule;
    std::function<void(expected<T>)> done;
    std::optional<backoff> b;
    std::optional<clock::time_point> deadline;
    uint32_t retries = 0;

    void attempt() {
      fn([self = this->shared_from_this()](expected<T> r) {
        if (r) return self->done(std::move(r));
        auto wait =
            detail::plan_retry(self->options, *self->b, self->retries,
                               r.error(), self->time->now(), self->deadline);
        if (!wait) return self->done(std::move(r));
        ++self->retries;
        self->schedule(*wait, [self] { self->attempt(); });
      });
    }
  };
  auto o = std::make_shared<op>();
  o->fn = std::move(fn);
  o->b.emplace(options.backoff, detail::seed_of(options));
  o->options = std::move(options);
  o->time = &time;
  o->schedule = std::move(schedule);
  o->done = std::move(done);
  if (o->options.timeout) o->deadline = time.now() + *o->options.timeout;
  o->attempt();
}

}  // namespace valmesh
