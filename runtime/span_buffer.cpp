#include "runtime/span_buffer.hpp"

#include <algorithm>

namespace valmesh {

span_buffer::span_buffer(size_t capacity)
    : ring_(std::max<size_t>(capacity, 1)) {}

void span_buffer::push(packed_span s) {
  ++finished_;
  if (size_ == ring_.size())
    ++dropped_;
  else
    ++size_;
  ring_[next_] = std::move(s);
  next_ = (next_ + 1) % ring_.size();
}

std::vector<span_data> span_buffer::query(const span_query& q) const {
  std::vector<span_data> out;
  auto matches = [&](const packed_span& s) {
    if (q.trace && s.trace() != *q.trace) return false;
    if (q.service) {
      auto name = s.string_attribute(service_attribute);
      if (!name || *name != *q.service) return false;
    }
    return true;
  };
  for (size_t i = 0; i < size_ && out.size() < q.limit; ++i) {
    auto& s = ring_[(next_ + ring_.size() - 1 - i) % ring_.size()];
    if (matches(s)) out.push_back(s.unpack());
  }
  // Spans arrive in batches (a loop's pass, or one by one from other
  // threads), so arrival order is only nearly end order: sort what is
  // returned by end time, newest first.
  std::stable_sort(out.begin(), out.end(), [](auto& a, auto& b) {
    return a.end_unix_nano > b.end_unix_nano;
  });
  return out;
}

}  // namespace valmesh
