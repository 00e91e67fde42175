#include "runtime/tracing/trace_context.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "runtime/common/random.hpp"

namespace valmesh {

namespace {

constexpr char hex_digits[] = "0123456789abcdef";

/// The value of a hex digit, or -1. Upper-case digits only when `!strict`.
constexpr int hex_value(char c, bool strict) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (!strict && c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Parses 16 hex digits at `p` into `out`.
bool parse_u64(const char* p, bool strict, uint64_t& out) noexcept {
  uint64_t x = 0;
  for (int i = 0; i < 16; ++i) {
    auto v = hex_value(p[i], strict);
    if (v < 0) return false;
    x = (x << 4) | static_cast<uint64_t>(v);
  }
  out = x;
  return true;
}

/// Every byte as its two hex digits: a number is written a byte at a time.
constexpr auto hex_pairs = [] {
  std::array<char, 512> t{};
  for (int i = 0; i < 256; ++i) {
    t[2 * i] = hex_digits[i >> 4];
    t[2 * i + 1] = hex_digits[i & 15];
  }
  return t;
}();

void write_u64(uint64_t x, char* out) noexcept {
  for (int i = 7; i >= 0; --i) {
    std::memcpy(out + 2 * i, &hex_pairs[2 * (x & 0xff)], 2);
    x >>= 8;
  }
}

/// A per-thread generator: SplitMix64 over a seed from the
/// operating system (one `random_device` read per thread).
uint64_t next_random() noexcept {
  thread_local uint64_t state = random_seed();
  return splitmix64(state);
}

constexpr bool lcalpha(char c) noexcept {
  return c >= 'a' && c <= 'z';
}
constexpr bool digit(char c) noexcept {
  return c >= '0' && c <= '9';
}
constexpr bool key_char(char c) noexcept {
  return lcalpha(c) || digit(c) || c == '_' || c == '-' || c == '*' || c == '/';
}

constexpr bool ows(char c) noexcept {
  return c == ' ' || c == '\t';
}

}  // namespace

std::string trace_id::to_hex() const {
  std::string s(32, '0');
  write_u64(hi, s.data());
  write_u64(lo, s.data() + 16);
  return s;
}

std::optional<trace_id> trace_id::from_hex(std::string_view s,
                                           bool strict) noexcept {
  trace_id t;
  if (s.size() != 32 || !parse_u64(s.data(), strict, t.hi) ||
      !parse_u64(s.data() + 16, strict, t.lo) || !t.valid())
    return std::nullopt;
  return t;
}

std::string span_id::to_hex() const {
  std::string s(16, '0');
  write_u64(value, s.data());
  return s;
}

std::optional<span_id> span_id::from_hex(std::string_view s,
                                         bool strict) noexcept {
  span_id x;
  if (s.size() != 16 || !parse_u64(s.data(), strict, x.value) || !x.valid())
    return std::nullopt;
  return x;
}

std::optional<span_context> parse_traceparent(std::string_view s) noexcept {
  // version "-" trace-id "-" parent-id "-" trace-flags
  if (s.size() < traceparent_size) return std::nullopt;
  auto v0 = hex_value(s[0], true), v1 = hex_value(s[1], true);
  if (v0 < 0 || v1 < 0) return std::nullopt;
  auto version = v0 * 16 + v1;
  if (version == 0xff) return std::nullopt;  // forbidden (§3.2.2.1)
  if (version == 0 && s.size() != traceparent_size) return std::nullopt;
  // A future version may be longer, but only after a '-' (§4.3).
  if (s.size() > traceparent_size && s[traceparent_size] != '-')
    return std::nullopt;
  if (s[2] != '-' || s[35] != '-' || s[52] != '-') return std::nullopt;
  span_context ctx;
  if (!parse_u64(s.data() + 3, true, ctx.trace.hi) ||
      !parse_u64(s.data() + 19, true, ctx.trace.lo) ||
      !parse_u64(s.data() + 36, true, ctx.span.value))
    return std::nullopt;
  auto f0 = hex_value(s[53], true), f1 = hex_value(s[54], true);
  if (f0 < 0 || f1 < 0) return std::nullopt;
  ctx.flags = static_cast<uint8_t>(f0 * 16 + f1);
  if (!ctx.valid()) return std::nullopt;
  return ctx;
}

void format_traceparent(const span_context& ctx,
                        std::array<char, traceparent_size>& out) noexcept {
  out[0] = '0';
  out[1] = '0';
  out[2] = '-';
  write_u64(ctx.trace.hi, out.data() + 3);
  write_u64(ctx.trace.lo, out.data() + 19);
  out[35] = '-';
  write_u64(ctx.span.value, out.data() + 36);
  out[52] = '-';
  // Version 00 defines only the sampled bit; the others go out as zero.
  auto flags = ctx.flags & trace_flag_sampled;
  out[53] = '0';
  out[54] = hex_digits[flags];
}

std::string format_traceparent(const span_context& ctx) {
  std::array<char, traceparent_size> buf;
  format_traceparent(ctx, buf);
  return std::string{buf.data(), buf.size()};
}

// -- tracestate ---------------------------------------------------------------

bool trace_state::valid_key(std::string_view key) noexcept {
  if (key.empty()) return false;
  auto at = key.find('@');
  if (at == std::string_view::npos) {
    if (key.size() > 256 || !lcalpha(key[0])) return false;
    return std::all_of(key.begin(), key.end(), key_char);
  }
  auto tenant = key.substr(0, at), system = key.substr(at + 1);
  if (tenant.empty() || tenant.size() > 241 || system.empty() ||
      system.size() > 14)
    return false;
  if (!(lcalpha(tenant[0]) || digit(tenant[0])) || !lcalpha(system[0]))
    return false;
  return std::all_of(tenant.begin(), tenant.end(), key_char) &&
         std::all_of(system.begin(), system.end(), key_char);
}

bool trace_state::valid_value(std::string_view value) noexcept {
  if (value.empty() || value.size() > 256 || value.back() == ' ') return false;
  for (char c : value)
    if (c < 0x20 || c > 0x7e || c == ',' || c == '=') return false;
  return true;
}

std::optional<trace_state> trace_state::parse(std::string_view s) {
  trace_state ts;
  while (true) {
    auto comma = s.find(',');
    auto m = s.substr(0, comma);
    while (!m.empty() && ows(m.front())) m.remove_prefix(1);
    while (!m.empty() && ows(m.back())) m.remove_suffix(1);
    if (!m.empty()) {  // empty list members are allowed (§3.3.1.1)
      auto eq = m.find('=');
      if (eq == std::string_view::npos) return std::nullopt;
      auto key = m.substr(0, eq), value = m.substr(eq + 1);
      if (!valid_key(key) || !valid_value(value)) return std::nullopt;
      for (auto& [k, _] : ts.members_)
        if (k == key) return std::nullopt;  // a key at most once
      if (ts.members_.size() == max_members) return std::nullopt;
      ts.members_.emplace_back(std::string{key}, std::string{value});
    }
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return ts;
}

std::string trace_state::to_string() const {
  std::string out;
  for (auto& [k, v] : members_) {
    if (!out.empty()) out += ',';
    out += k;
    out += '=';
    out += v;
  }
  return out;
}

bool trace_state::put(std::string key, std::string value) {
  if (!valid_key(key) || !valid_value(value)) return false;
  members_.erase(std::remove_if(members_.begin(), members_.end(),
                                [&](auto& m) { return m.first == key; }),
                 members_.end());
  members_.emplace(members_.begin(), std::move(key), std::move(value));
  if (members_.size() > max_members) members_.pop_back();
  return true;
}

std::optional<std::string_view> trace_state::get(
    std::string_view key) const noexcept {
  for (auto& [k, v] : members_)
    if (k == key) return std::string_view{v};
  return std::nullopt;
}

// -- ids ----------------------------------------------------------------------

trace_id random_trace_id() noexcept {
  trace_id t;
  do {
    t.hi = next_random();
    t.lo = next_random();
  } while (!t.valid());
  return t;
}

span_id random_span_id() noexcept {
  span_id s;
  do s.value = next_random();
  while (!s.valid());
  return s;
}

}  // namespace valmesh
