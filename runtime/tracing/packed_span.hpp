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
#include <cstring>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/tracing/span.hpp"

namespace valmesh {

/// The tags of a packed span's log (packed_span.cpp describes the records).
namespace packed_log {
enum class record : uint8_t { attribute, event, name, status_message, state };
enum class value_type : uint8_t { string, integer, floating, boolean };
}  // namespace packed_log

class packed_span {
 public:
  packed_span() = default;

  /// Packs a whole span (the C++ API's tests, the spans of other sinks).
  explicit packed_span(const span_data& s);

  /// Starts recording a span; `reserve` bytes of log are allocated at once.
  packed_span(const trace_id& trace, const span_id& id, const span_id& parent,
              span_kind kind, int64_t start_unix_nano, size_t reserve = 0);

  // -- recording (appends to the log) ----------------------------------------

  void set_name(std::string_view name) { set_name({name}); }
  /// The name is the parts one after the other (no string to build).
  void set_name(std::initializer_list<std::string_view> parts);

  // A known key is one byte, written with its value in one append; these
  // are inline, as the gateway sets some twenty attributes per request.
  void set_attribute(known_attribute key, std::string_view value) {
    auto n = static_cast<uint32_t>(value.size());
    auto* at = begin_known(key, packed_log::value_type::string, sizeof(n) + n);
    std::memcpy(at, &n, sizeof(n));
    if (n > 0) std::memcpy(at + sizeof(n), value.data(), n);
  }
  void set_attribute(known_attribute key, int64_t value) {
    std::memcpy(begin_known(key, packed_log::value_type::integer, 8), &value,
                8);
  }
  void set_attribute(known_attribute key, double value) {
    std::memcpy(begin_known(key, packed_log::value_type::floating, 8), &value,
                8);
  }
  void set_attribute(known_attribute key, bool value) {
    *begin_known(key, packed_log::value_type::boolean, 1) =
        static_cast<char>(value);
  }
  void set_attribute(const attribute_key& key, std::string_view value) {
    set_any(key, value);
  }
  void set_attribute(const attribute_key& key, int64_t value) {
    set_any(key, value);
  }
  void set_attribute(const attribute_key& key, double value) {
    set_any(key, value);
  }
  void set_attribute(const attribute_key& key, bool value) {
    set_any(key, value);
  }
  void set_attribute(const attribute_key& key, const attribute_value& value);
  void add_event(std::string_view name, int64_t time_unix_nano,
                 const attribute_list& attributes);
  /// The status; the message is kept for `error` only.
  void set_status(status_code code, std::string_view message);
  void set_trace_state(std::string_view state);
  void set_end(int64_t end_unix_nano) noexcept { head_.end = end_unix_nano; }
  /// Starts recording a new span into this one: the header is replaced and
  /// the log emptied, its memory kept (see `span_returns`).
  void reset(const trace_id& trace, const span_id& id, const span_id& parent,
             span_kind kind, int64_t start_unix_nano) noexcept;
  /// Makes room for `bytes` more of log.
  void reserve(size_t bytes) { log_.reserve(bytes); }

  // -- reading ---------------------------------------------------------------

  /// The fixed part: ids, kind, times and status code.
  struct header {
    trace_id trace;
    span_id span;
    span_id parent;
    int64_t start = 0;
    int64_t end = 0;
    span_kind kind = span_kind::internal;
    status_code status = status_code::unset;
  };

  /// The span, with every change of the log applied in order.
  span_data unpack() const { return unpack(head_, log()); }
  /// The same for a header and log kept elsewhere (the span buffer).
  static span_data unpack(const header& head, std::string_view log);

  const header& head() const noexcept { return head_; }
  const trace_id& trace() const noexcept { return head_.trace; }
  const span_id& id() const noexcept { return head_.span; }
  int64_t end_unix_nano() const noexcept { return head_.end; }
  /// The log's bytes.
  std::string_view log() const noexcept { return {log_.begin(), log_.size()}; }

  /// The (last) value of attribute `key` if it is a string.
  std::optional<std::string_view> string_attribute(std::string_view key) const {
    return string_attribute(log(), key);
  }
  static std::optional<std::string_view> string_attribute(std::string_view log,
                                                          std::string_view key);

  /// The log's size in bytes.
  size_t packed_size() const noexcept { return log_.size(); }
  /// The bytes of log allocated.
  size_t packed_capacity() const noexcept { return log_.capacity(); }

 private:
  header head_;
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
    void clear() noexcept { size_ = 0; }
    const char* begin() const noexcept { return bytes_.get(); }
    const char* end() const noexcept { return bytes_.get() + size_; }
    size_t size() const noexcept { return size_; }
    size_t capacity() const noexcept { return capacity_; }

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
  /// A value's type byte and the value.
  void put_typed(std::string_view s);
  void put_typed(int64_t x);
  void put_typed(double x);
  void put_typed(bool x);
  void put_value(const attribute_value& v);
  /// Writes an attribute's tag, key and value type; returns where its
  /// `value_bytes` go.
  char* begin_known(known_attribute key, packed_log::value_type type,
                    size_t value_bytes) {
    auto* at = append(3 + value_bytes);
    at[0] = static_cast<char>(packed_log::record::attribute);
    at[1] = static_cast<char>(key);
    at[2] = static_cast<char>(type);
    return at + 3;
  }
  template <class T>
  void set_any(const attribute_key& key, T value) {
    if (key.known() != known_attribute::none)
      set_attribute(key.known(), value);
    else
      set_custom(key.name(), value);
  }
  /// An attribute with a string key (instantiated in packed_span.cpp for
  /// the four value types).
  template <class T>
  void set_custom(std::string_view key, T value);
};

/// Spans going back to the thread that recorded them, to be recorded into
/// again: the tracer copies each span of a batch into its buffer and hands
/// the batch back, and that thread's next spans reuse the logs' memory, a
/// few batches' worth that stays in cache. A log allocated on one thread
/// and freed on another takes glibc malloc's slow path on both sides (docs/
/// BENCHMARKS.md, "The span buffer's own memory"). Thread-safe: the tracer
/// gives, the recording thread takes, each about once per batch.
class span_returns {
 public:
  /// A log larger than this is freed rather than given back.
  static constexpr size_t max_log_bytes = 4096;
  /// At most this many batches wait to be taken; more are freed.
  static constexpr size_t max_waiting = 2;

  /// Gives spans back (those without a log, or with a log too large, are
  /// freed).
  void give_back(std::vector<packed_span>&& spans);

  /// Replaces `into` with the oldest batch given back; false if none.
  bool take(std::vector<packed_span>& into);

 private:
  std::mutex mtx_;
  std::vector<std::vector<packed_span>> waiting_;
};

/// Spans on their way to the tracer actor.
struct packed_batch {
  std::vector<packed_span> spans;
  /// Where the spans go back to once the tracer has kept them; null:
  /// nowhere (they are freed).
  std::shared_ptr<span_returns> origin;
  /// The spans are already in the tracer's buffer (a `shared_span_buffer`
  /// the sender copied them into): they come for the export only.
  bool kept = false;
};

}  // namespace valmesh
