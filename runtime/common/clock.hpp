#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace valmesh {

/// The source of time for everything that schedules, expires or timestamps.
/// Production code uses `system_clock_source`; tests inject `manual_clock` and
/// advance it by hand, so no test waits on real time for a lease to run out.
class clock {
 public:
  using duration = std::chrono::milliseconds;
  /// A point on the monotonic time line (never jumps; for deadlines).
  using time_point = std::chrono::time_point<std::chrono::steady_clock,
                                             std::chrono::nanoseconds>;

  virtual ~clock() = default;

  /// Returns the monotonic now, for deadlines and durations.
  virtual time_point now() const noexcept = 0;

  /// Returns wall-clock milliseconds since the Unix epoch, for timestamps
  /// that users read (`registeredAt`, `lastHeartbeat`).
  virtual int64_t unix_ms() const noexcept = 0;

  /// Returns wall-clock microseconds since the Unix epoch, for the hybrid
  /// clock that orders writes across nodes. Clocks that only know
  /// milliseconds give them in microseconds.
  virtual int64_t unix_us() const noexcept { return unix_ms() * 1000; }
};

/// The instant at which the event a thread is handling began. An event loop
/// opens a scope where a completion handler starts (a request or an
/// upstream's answer read); until it closes, `event_scope::now()` and
/// `system_clock_source::now()` on that thread give that one instant, as
/// nginx and HAProxy read the clock once per turn of their loops: the
/// deadlines and timings of one event share one reading. Outside a scope
/// they read the clock. Durations that must include the handler's own work
/// (a request's time to its answer) end with a reading of the clock.
class event_scope {
 public:
  event_scope() noexcept {
    if (depth_++ == 0) at_ = std::chrono::steady_clock::now();
  }
  ~event_scope() { --depth_; }
  event_scope(const event_scope&) = delete;
  event_scope& operator=(const event_scope&) = delete;

  /// The instant of the event in a scope on this thread, else the clock's.
  static clock::time_point now() noexcept {
    return depth_ > 0 ? at_ : std::chrono::steady_clock::now();
  }

 private:
  static inline thread_local int depth_ = 0;
  static inline thread_local clock::time_point at_{};
};

/// The real clocks of the machine. The monotonic one gives the instant of
/// the event this thread is handling, in an `event_scope`.
class system_clock_source final : public clock {
 public:
  time_point now() const noexcept override { return event_scope::now(); }
  int64_t unix_ms() const noexcept override {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
        .count();
  }
  int64_t unix_us() const noexcept override {
    using namespace std::chrono;
    return duration_cast<microseconds>(system_clock::now().time_since_epoch())
        .count();
  }
};

/// A clock that only moves when told to; safe to read from several threads.
class manual_clock final : public clock {
 public:
  /// Starts at an arbitrary, fixed instant so test output is reproducible.
  explicit manual_clock(int64_t unix_ms = 1'700'000'000'000)
      : unix_us_(unix_ms * 1000) {}

  time_point now() const noexcept override {
    return time_point{std::chrono::nanoseconds{mono_.load()}};
  }
  int64_t unix_ms() const noexcept override { return unix_us_.load() / 1000; }
  int64_t unix_us() const noexcept override { return unix_us_.load(); }

  /// Moves both time lines forward by `d`.
  void advance(std::chrono::nanoseconds d) noexcept {
    mono_ += d.count();
    unix_us_ +=
        std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  }

 private:
  std::atomic<int64_t> mono_{1'000'000'000};
  std::atomic<int64_t> unix_us_;
};

}  // namespace valmesh
