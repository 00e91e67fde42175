#include "runtime/mesh/bulkhead.hpp"

#include <algorithm>

namespace valmesh {

bulkhead::decision bulkhead::acquire(ticket t, clock::time_point now) {
  if (in_flight_ < options_.max_concurrent && queue_.empty()) {
    ++in_flight_;
    return decision::granted;
  }
  if (queue_.size() < options_.max_queue) {
    queue_.push_back({t, now + options_.queue_timeout});
    return decision::queued;
  }
  return decision::rejected;
}

std::optional<bulkhead::ticket> bulkhead::release() {
  if (in_flight_ == 0) return std::nullopt;
  if (!queue_.empty()) {  // the permit passes straight to the oldest waiter
    auto next = queue_.front().id;
    queue_.pop_front();
    return next;
  }
  --in_flight_;
  return std::nullopt;
}

std::vector<bulkhead::ticket> bulkhead::expire(clock::time_point now) {
  std::vector<ticket> result;
  // FIFO with one timeout for all: the oldest always expire first.
  while (!queue_.empty() && queue_.front().deadline <= now) {
    result.push_back(queue_.front().id);
    queue_.pop_front();
  }
  return result;
}

bool bulkhead::cancel(ticket t) {
  auto i = std::find_if(queue_.begin(), queue_.end(),
                        [t](const waiter& w) { return w.id == t; });
  if (i == queue_.end()) return false;
  queue_.erase(i);
  return true;
}

std::optional<clock::time_point> bulkhead::next_timeout() const {
  if (queue_.empty()) return std::nullopt;
  return queue_.front().deadline;
}

}  // namespace valmesh
