#include "runtime/health/check_schedule.hpp"

#include "runtime/common/random.hpp"

namespace valmesh {

void check_schedule::add(const std::string& id, clock::time_point now,
                         clock::duration interval,
                         clock::duration first_spread) {
  auto gen = ++next_generation_;
  live_[id] = live_entry{gen, interval};
  auto spread =
      first_spread.count() > 0
          ? clock::duration{static_cast<int64_t>(
                splitmix64(rng_) % static_cast<uint64_t>(first_spread.count()))}
          : clock::duration{0};
  heap_.push(entry{now + spread, id, gen});
}

void check_schedule::remove(const std::string& id) {
  live_.erase(id);
}

void check_schedule::drop_stale() {
  while (!heap_.empty()) {
    auto& top = heap_.top();
    auto i = live_.find(top.id);
    if (i != live_.end() && i->second.generation == top.generation) return;
    heap_.pop();
  }
}

std::vector<check_schedule::due_check> check_schedule::take_due(
    clock::time_point now) {
  std::vector<due_check> result;
  for (drop_stale(); !heap_.empty() && heap_.top().due <= now; drop_stale()) {
    auto e = heap_.top();
    heap_.pop();
    auto interval = live_.at(e.id).interval;
    auto next = e.due + interval;
    if (next <= now) next = now + interval;  // far behind: restart the phase
    result.push_back({e.id, e.due});
    heap_.push(entry{next, std::move(e.id), e.generation});
  }
  return result;
}

std::optional<clock::time_point> check_schedule::next_due() {
  drop_stale();
  if (heap_.empty()) return std::nullopt;
  return heap_.top().due;
}

const event_record& event_log::append(std::string type, std::string data) {
  events_.push_back(event_record{next_id_++, std::move(type), std::move(data)});
  while (events_.size() > capacity_) events_.pop_front();
  return events_.back();
}

std::vector<event_record> event_log::since(uint64_t last_id,
                                           uint64_t& missed) const {
  missed = 0;
  std::vector<event_record> result;
  if (events_.empty() || last_id >= events_.back().id) return result;
  auto first = events_.front().id;
  if (last_id + 1 < first) missed = first - last_id - 1;
  for (auto& e : events_)
    if (e.id > last_id) result.push_back(e);
  return result;
}

}  // namespace valmesh
