#pragma once

// The bounded buffer of finished spans: a ring that drops the
// oldest span when full and counts what it dropped. Plain logic; the tracer
// actor owns one.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "runtime/tracing/packed_span.hpp"
#include "runtime/tracing/span.hpp"

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

/// A ring buffer of finished spans with a fixed capacity. Each span is
/// kept as its packed header (runtime/tracing/packed_span.hpp) in a ring of
/// entries and its log's bytes in one byte ring, both allocated once:
/// keeping 10,000 spans as separate heap blocks left the recording
/// threads' heap with megabytes of long-lived blocks among its short-lived
/// ones, which made every malloc of the proxy path slower (docs/
/// BENCHMARKS.md, "The span buffer's own memory"). `query` unpacks.
///
/// The byte ring starts at 256 bytes per span of capacity and doubles (up
/// to 1 KiB per span, at least 64 KiB) when it fills before the entries
/// do; past that, a span's bytes push out the oldest spans (counted as
/// dropped) even if fewer than `capacity` are held. A log larger than the
/// whole byte ring grows it to twice the log's size.
class span_buffer {
 public:
  /// The default of `tracing.bufferCapacity`.
  static constexpr size_t default_capacity = 10'000;
  static constexpr size_t initial_bytes_per_span = 256;
  static constexpr size_t max_bytes_per_span = 1024;

  explicit span_buffer(size_t capacity = default_capacity);

  /// Copies a span in; when full, the oldest one goes (and is counted).
  void push(const packed_span& s) {
    push_one(s);
    stream_done();
  }
  void push(const span_data& s) { push(packed_span{s}); }
  /// Copies spans in, in order (one store fence for all of them).
  void push(const std::vector<packed_span>& spans) {
    for (auto& s : spans) push_one(s);
    stream_done();
  }

  /// Returns the newest spans (by arrival) that match `q`, sorted by end
  /// time, newest first.
  std::vector<span_data> query(const span_query& q) const;

  span_buffer_stats stats() const noexcept {
    return {finished_, dropped_, size_, entries_.size()};
  }

  /// The byte ring's size (tests, figures).
  size_t byte_capacity() const noexcept { return bytes_size_; }

 private:
  /// Aligned and a whole number of 16-byte blocks, to be written with
  /// streaming stores (span_buffer.cpp).
  struct alignas(16) entry {
    packed_span::header head;
    uint64_t at = 0;  ///< where the log starts, counted since the start
    uint32_t size = 0;
  };
  static_assert(sizeof(entry) % 16 == 0);
  static_assert(std::is_trivially_copyable_v<entry>);
  struct free_bytes {
    void operator()(char* p) const noexcept;
  };
  static std::unique_ptr<char[], free_bytes> make_bytes(size_t n);

  /// Where the `i`th newest entry is (0: the newest).
  size_t slot_of_newest(size_t i) const noexcept {
    return (next_ + entries_.size() - 1 - i) % entries_.size();
  }
  const entry& nth_newest(size_t i) const noexcept {
    return entries_[slot_of_newest(i)];
  }
  std::string_view log_of(const entry& e) const noexcept {
    return {bytes_.get() + e.at % bytes_size_, e.size};
  }
  void drop_oldest() noexcept;
  /// `push` without the fence that makes the streamed stores visible.
  void push_one(const packed_span& s);
  static void stream_done() noexcept;
  /// Copies the live logs into a byte ring of `bytes`.
  void regrow(size_t bytes);

  std::vector<entry> entries_;
  size_t next_ = 0;  ///< where the next entry goes
  size_t size_ = 0;
  std::unique_ptr<char[], free_bytes> bytes_;  ///< aligned to 16
  size_t bytes_size_ = 0;
  size_t max_bytes_ = 0;
  uint64_t write_at_ = 0;  ///< where the next log goes, counted since the
                           ///< start (its place is this modulo the size)
  uint64_t finished_ = 0;
  uint64_t dropped_ = 0;
};

/// A span buffer that several threads share: each HTTP loop copies the
/// spans that end on it in, a batch at a time, and the tracer actor answers
/// queries from it. The spans stay on the thread that recorded them and
/// their logs are recorded into again at once; handing them to the actor to
/// copy cost a message and a wake-up per batch and moved every log's cache
/// lines to another core and back (docs/BENCHMARKS.md, "Spans kept where
/// they end").
class shared_span_buffer {
 public:
  explicit shared_span_buffer(size_t capacity = span_buffer::default_capacity)
      : buffer_(capacity) {}

  void push(const packed_span& s) {
    std::lock_guard guard{mtx_};
    buffer_.push(s);
  }
  void push(const std::vector<packed_span>& spans) {
    std::lock_guard guard{mtx_};
    buffer_.push(spans);
  }
  /// Unpacks under the lock: a loop that ends a batch meanwhile waits for
  /// at most `q.limit` spans to be unpacked.
  std::vector<span_data> query(const span_query& q) const {
    std::lock_guard guard{mtx_};
    return buffer_.query(q);
  }
  span_buffer_stats stats() const {
    std::lock_guard guard{mtx_};
    return buffer_.stats();
  }

 private:
  mutable std::mutex mtx_;
  span_buffer buffer_;
};

/// The attribute the `service` filter matches.
inline constexpr std::string_view service_attribute = "valmesh.service";

}  // namespace valmesh
