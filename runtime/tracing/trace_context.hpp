#pragma once

// W3C Trace Context (https://www.w3.org/TR/trace-context/): the
// `traceparent` and `tracestate` headers, parsed and formatted exactly as the
// recommendation says, and random ids. Plain logic: no CAF, no I/O.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace valmesh {

/// A 16-byte trace id, as two big-endian halves (`hi` is the first 8 bytes
/// of the hex form, `lo` the last 8). All zeros is invalid.
struct trace_id {
  uint64_t hi = 0;
  uint64_t lo = 0;

  bool valid() const noexcept { return hi != 0 || lo != 0; }
  /// Returns 32 lower-case hex digits.
  std::string to_hex() const;
  /// Parses exactly 32 hex digits (lower-case only if `strict`); rejects all
  /// zeros.
  static std::optional<trace_id> from_hex(std::string_view s,
                                          bool strict = true) noexcept;

  friend bool operator==(const trace_id&, const trace_id&) = default;
};

/// An 8-byte span id. Zero is invalid (and means "no parent").
struct span_id {
  uint64_t value = 0;

  bool valid() const noexcept { return value != 0; }
  /// Returns 16 lower-case hex digits.
  std::string to_hex() const;
  /// Parses exactly 16 hex digits; rejects zero.
  static std::optional<span_id> from_hex(std::string_view s,
                                         bool strict = true) noexcept;

  friend bool operator==(const span_id&, const span_id&) = default;
};

/// The `sampled` bit of `trace-flags`.
inline constexpr uint8_t trace_flag_sampled = 0x01;

/// What `traceparent` carries: the trace, the sender's span and the flags.
struct span_context {
  trace_id trace;
  span_id span;
  uint8_t flags = 0;

  bool valid() const noexcept { return trace.valid() && span.valid(); }
  bool sampled() const noexcept { return (flags & trace_flag_sampled) != 0; }

  friend bool operator==(const span_context&, const span_context&) = default;
};

/// Length of a version-00 `traceparent`: `00-<32>-<16>-<2>`.
inline constexpr size_t traceparent_size = 55;

/// Parses a `traceparent` value (W3C §3.2 and §4.3):
/// - version 00: exactly 55 characters, lower-case hex only;
/// - version ff: invalid;
/// - a higher version: the first four fields are parsed as version 00 and
///   anything after them must start with '-' (and is ignored);
/// - an all-zero trace id or parent id, bad hex, upper-case hex or a wrong
///   length is invalid.
/// Returns nothing when invalid: the caller then starts a new trace and
/// drops `tracestate` too.
std::optional<span_context> parse_traceparent(std::string_view s) noexcept;

/// Writes `ctx` as a version-00 `traceparent` into `out` (55 characters).
void format_traceparent(const span_context& ctx,
                        std::array<char, traceparent_size>& out) noexcept;

/// Returns `ctx` as a version-00 `traceparent`.
std::string format_traceparent(const span_context& ctx);

/// The list members of `tracestate` (W3C §3.3), in order, at most 32.
class trace_state {
 public:
  /// The most members a `tracestate` may hold.
  static constexpr size_t max_members = 32;

  using member = std::pair<std::string, std::string>;

  trace_state() = default;

  /// Parses a header value (several `tracestate` headers are combined
  /// with ',' before). Empty list members and optional white space around
  /// them are allowed. Returns nothing if any member is malformed, a key
  /// repeats, or there are more than 32 members: the recommendation lets a
  /// vendor discard the whole header then, which is the safe reading.
  static std::optional<trace_state> parse(std::string_view s);

  /// Whether `key` follows the grammar: `simple-key` (lcalpha then up to
  /// 255 of lcalpha, digits, `_-*/`) or `tenant@system` (tenant up to 241
  /// characters starting with lcalpha or a digit, system up to 14 starting
  /// with lcalpha).
  static bool valid_key(std::string_view key) noexcept;

  /// Whether `value` follows the grammar: 1 to 256 printable ASCII
  /// characters other than ',' and '=', the last not a space.
  static bool valid_value(std::string_view value) noexcept;

  /// Returns the members joined with ','; empty if there are none.
  std::string to_string() const;

  /// Puts `key=value` at the front (removing an older member of `key`), and
  /// drops the last member if that makes 33. Returns false (and changes
  /// nothing) if the key or value is invalid.
  bool put(std::string key, std::string value);

  /// The value of `key`, if present.
  std::optional<std::string_view> get(std::string_view key) const noexcept;

  const std::vector<member>& members() const noexcept { return members_; }
  bool empty() const noexcept { return members_.empty(); }

 private:
  std::vector<member> members_;
};

/// Returns a new random trace id (never all zeros). Uses a per-thread
/// generator seeded from the operating system: no lock, a few ns.
trace_id random_trace_id() noexcept;

/// Returns a new random span id (never zero).
span_id random_span_id() noexcept;

}  // namespace valmesh
