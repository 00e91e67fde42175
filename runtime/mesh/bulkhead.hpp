#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "runtime/common/clock.hpp"

namespace valmesh {

/// Options of a service's bulkhead (config `policies.<service>`; README.md,
/// "The mesh").
///
/// | name           | default | meaning                                    |
/// |----------------|---------|--------------------------------------------|
/// | max_concurrent | 64      | calls in flight at once                    |
/// | max_queue      | 128     | calls waiting for a permit                 |
/// | queue_timeout  | 1s      | a waiting call gives up after this         |
struct bulkhead_options {
  uint32_t max_concurrent = 64;
  uint32_t max_queue = 128;
  clock::duration queue_timeout = std::chrono::seconds{1};
};

/// Permits plus a bounded FIFO queue with a timeout: the isolation of one
/// service, so that its slowness cannot take every connection of the node.
/// Plain logic; the bulkhead actor grants and expires waiters by ticket.
class bulkhead {
 public:
  using ticket = uint64_t;

  /// What `acquire` decided.
  enum class decision : uint8_t { granted, queued, rejected };

  explicit bulkhead(bulkhead_options options = {}) : options_(options) {}

  /// Asks for a permit at `now`. `queued` means: wait for `release` (or
  /// `expire`) to name `t`.
  decision acquire(ticket t, clock::time_point now);

  /// Returns a permit. If a waiter takes it over, returns that waiter's
  /// ticket (which now holds the permit).
  std::optional<ticket> release();

  /// Removes the waiters whose queue timeout passed at `now`; the caller
  /// answers them 503.
  std::vector<ticket> expire(clock::time_point now);

  /// Withdraws a waiting ticket (its caller gave up); false if not queued.
  bool cancel(ticket t);

  /// When the oldest waiter times out, if any waits.
  std::optional<clock::time_point> next_timeout() const;

  uint32_t in_flight() const noexcept { return in_flight_; }
  size_t queued() const noexcept { return queue_.size(); }
  const bulkhead_options& options() const noexcept { return options_; }

 private:
  struct waiter {
    ticket id;
    clock::time_point deadline;
  };

  bulkhead_options options_;
  uint32_t in_flight_ = 0;
  std::deque<waiter> queue_;
};

}  // namespace valmesh
