#pragma once

// A span as one buffer: what a sampled span records into while it runs, what
// travels from the thread that ended it to the tracer actor, and what the
// span buffer keeps. A `span_data` costs a vector of ~80-byte attributes and
// a string per value (about 1 KB and half a dozen allocations for a gateway
// span, each moved twice on the way); a packed span is a fixed header and a
// log of the span's changes in one string: setting an attribute appends a
// few bytes. `unpack` replays the log into a `span_data` (a later value of
// an attribute, the name or the status message replaces an earlier one),
// which only the spans endpoint and the OTLP exporter need
// (docs/BENCHMARKS.md, "Packed spans").

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/span.hpp"

namespace valmesh {

class packed_span {
 public:
  packed_span() = default;

  /// Packs a whole span (the C++ API's tests, the spans of other sinks).
  explicit packed_span(const span_data& s);

  /// Starts recording a span; `reserve` bytes of log are allocated at once.
  packed_span(const trace_id& trace, const span_id& id, const span_id& parent,
              span_kind kind, int64_t start_unix_nano, size_t reserve = 0);

  // -- recording (appends to the log) ----------------------------------------

  void set_name(std::string_view name);
  void set_attribute(const attribute_key& key, std::string_view value);
  void set_attribute(const attribute_key& key, int64_t value);
  void set_attribute(const attribute_key& key, double value);
  void set_attribute(const attribute_key& key, bool value);
  void set_attribute(const attribute_key& key, const attribute_value& value);
  void add_event(std::string_view name, int64_t time_unix_nano,
                 const attribute_list& attributes);
  /// The status; the message is kept for `error` only.
  void set_status(status_code code, std::string_view message);
  void set_trace_state(std::string_view state);
  void set_end(int64_t end_unix_nano) noexcept { end_ = end_unix_nano; }
  /// Makes room for `bytes` more of log.
  void reserve(size_t bytes) { log_.reserve(bytes); }

  // -- reading ---------------------------------------------------------------

  /// The span, with every change of the log applied in order.
  span_data unpack() const;

  const trace_id& trace() const noexcept { return trace_; }
  const span_id& id() const noexcept { return span_; }
  int64_t end_unix_nano() const noexcept { return end_; }

  /// The (last) value of attribute `key` if it is a string.
  std::optional<std::string_view> string_attribute(std::string_view key) const;

  /// The log's size in bytes.
  size_t packed_size() const noexcept { return log_.size(); }

 private:
  trace_id trace_;
  span_id span_;
  span_id parent_;
  int64_t start_ = 0;
  int64_t end_ = 0;
  span_kind kind_ = span_kind::internal;
  status_code status_ = status_code::unset;
  /// The log: records (an attribute, an event, the name, the status
  /// message or the trace state), each a tag byte and its fields
  /// (packed_span.cpp).
  class byte_log {
   public:
    byte_log() = default;
    byte_log(byte_log&& other) noexcept;
    byte_log& operator=(byte_log&& other) noexcept;
    byte_log(const byte_log& other);
    byte_log& operator=(const byte_log& other);

    /// Room for `n` more bytes, uninitialised; returns where they go.
    char* append(size_t n) {
      if (size_ + n > capacity_) grow(n);
      auto* at = bytes_.get() + size_;
      size_ += static_cast<uint32_t>(n);
      return at;
    }
    void reserve(size_t n) {
      if (size_ + n > capacity_) grow(n);
    }
    const char* begin() const noexcept { return bytes_.get(); }
    const char* end() const noexcept { return bytes_.get() + size_; }
    size_t size() const noexcept { return size_; }

   private:
    void grow(size_t n);
    /// A plain buffer: appending is a bounds check and a copy (a string
    /// zero-fills or checks more per append).
    std::unique_ptr<char[]> bytes_;
    uint32_t size_ = 0;
    uint32_t capacity_ = 0;
  };
  byte_log log_;

  char* append(size_t n) { return log_.append(n); }
  template <class T>
  void put(T x);
  void put_string(std::string_view s);
  void put_key(const attribute_key& key);
  void put_value(const attribute_value& v);
  /// Writes an attribute's tag, key and value type; returns where its
  /// `value_bytes` go.
  char* begin_attribute(const attribute_key& key, uint8_t type,
                        size_t value_bytes);
};

/// Spans on their way to the tracer actor.
using packed_batch = std::vector<packed_span>;

}  // namespace valmesh
