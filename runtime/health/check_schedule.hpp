#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "runtime/common/clock.hpp"

namespace valmesh {

/// When each instance of a service is checked next. Checks keep their phase
/// (the next is one interval after the previous *due* time, not after it
/// ran), so lateness never accumulates; the first check of an instance comes
/// at a random offset within `first_spread`, so a burst of registrations
/// spreads out instead of checking all at once.
class check_schedule {
 public:
  struct due_check {
    std::string id;
    clock::time_point due;  ///< when it should have run
  };

  explicit check_schedule(uint64_t seed) : rng_(seed) {}

  /// Adds `id` (or re-times it if present): first check within
  /// [now, now + first_spread), then every `interval`.
  void add(const std::string& id, clock::time_point now,
           clock::duration interval, clock::duration first_spread);

  /// Stops checking `id`.
  void remove(const std::string& id);

  /// Removes and returns every check due at `now`, and schedules the next
  /// one of each. A check more than one interval behind restarts from `now`.
  std::vector<due_check> take_due(clock::time_point now);

  /// The earliest due time, if anything is scheduled.
  std::optional<clock::time_point> next_due();

  size_t size() const noexcept { return live_.size(); }

 private:
  struct entry {
    clock::time_point due;
    std::string id;
    uint64_t generation;
    bool operator>(const entry& other) const { return due > other.due; }
  };

  struct live_entry {
    uint64_t generation;
    clock::duration interval;
  };

  void drop_stale();

  uint64_t rng_;
  uint64_t next_generation_ = 0;
  std::priority_queue<entry, std::vector<entry>, std::greater<entry>> heap_;
  std::unordered_map<std::string, live_entry> live_;
};

/// A recent event, as `GET /api/events` streams it.
struct event_record {
  uint64_t id = 0;
  std::string type;  ///< registered, deregistered, health_changed, ...
  std::string data;  ///< JSON text
};

/// A bounded backlog of events with increasing ids, for resuming a stream
/// with `Last-Event-ID`. The oldest events fall off first.
class event_log {
 public:
  explicit event_log(size_t capacity) : capacity_(capacity) {}

  /// Appends an event and returns it with its id (ids start at 1).
  const event_record& append(std::string type, std::string data);

  /// Every event after `last_id`, oldest first. `missed` is set to how many
  /// events after `last_id` have already fallen off the backlog.
  std::vector<event_record> since(uint64_t last_id, uint64_t& missed) const;

  uint64_t last_id() const noexcept { return next_id_ - 1; }
  size_t size() const noexcept { return events_.size(); }

 private:
  size_t capacity_;
  uint64_t next_id_ = 1;
  std::deque<event_record> events_;
};

}  // namespace valmesh
