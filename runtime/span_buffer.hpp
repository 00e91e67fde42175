#pragma once

// The bounded buffer of finished spans (SPEC §5): a ring that drops the
// oldest span when full and counts what it dropped. Plain logic; the tracer
// actor owns one.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/packed_span.hpp"
#include "runtime/span.hpp"

namespace valmesh {

/// Which spans `span_buffer::query` returns.
struct span_query {
  size_t limit = 100;                  ///< at most this many, newest first
  std::optional<trace_id> trace;       ///< only this trace
  std::optional<std::string> service;  ///< only spans whose `valmesh.service`
                                       ///< attribute is this
};

/// The buffer's figures.
struct span_buffer_stats {
  uint64_t finished = 0;  ///< spans ever added
  uint64_t dropped = 0;   ///< spans pushed out by newer ones
  size_t size = 0;        ///< spans held now
  size_t capacity = 0;
};

/// A ring buffer of finished spans with a fixed capacity, kept packed
/// (runtime/packed_span.hpp) and unpacked by `query`.
class span_buffer {
 public:
  /// The default of `tracing.bufferCapacity`.
  static constexpr size_t default_capacity = 10'000;

  explicit span_buffer(size_t capacity = default_capacity);

  /// Adds a span; when full, the oldest one goes (and is counted).
  void push(packed_span s);
  void push(const span_data& s) { push(packed_span{s}); }

  /// Returns the newest spans (by arrival) that match `q`, sorted by end
  /// time, newest first.
  std::vector<span_data> query(const span_query& q) const;

  span_buffer_stats stats() const noexcept {
    return {finished_, dropped_, size_, ring_.size()};
  }

 private:
  std::vector<packed_span> ring_;
  size_t next_ = 0;  ///< where the next span goes
  size_t size_ = 0;
  uint64_t finished_ = 0;
  uint64_t dropped_ = 0;
};

/// The attribute the `service` filter matches.
inline constexpr std::string_view service_attribute = "valmesh.service";

}  // namespace valmesh
