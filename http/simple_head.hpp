#pragma once

// The common HTTP/1.1 message head, read without Beast's parser: token
// names, values of visible characters, blanks and obs-text, no folded
// lines, no `Transfer-Encoding`, `Upgrade` or `Proxy-Connection`, a
// `Connection` of one token and at most one `Content-Length` of digits.
// What Beast's parser reads the same way (its character classes, its
// trimming of blanks around a value); anything else is left to it. The
// server's requests (`read_simple_request`, http/request_reading.cpp) and
// the upstreams' answers (`read_simple_response`, http/response_reader.hpp)
// are read with it, and each fuzzer compares it with Beast's parser.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>

namespace valmesh::web::simple_head {

/// RFC 9110's tchar: the characters of a method and a field name.
inline constexpr auto token_char = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view{"!#$%&'*+-.^_`|~"})
    t[static_cast<unsigned char>(c)] = true;
  return t;
}();

inline bool is_token(char c) noexcept {
  return token_char[static_cast<unsigned char>(c)];
}

inline bool is_blank(char c) noexcept {
  return c == ' ' || c == '\t';
}

/// The first byte of [p, e) that is below `limit` (a control character,
/// or also the space for a limit of 0x21) or DEL, a tab excepted when
/// `tab_ok`; `e` if none. Bytes from 0x80 (obs-text) pass. Sixteen bytes
/// at a time: a header value is one pass that finds its end and checks
/// every byte of it.
inline const char* first_below(const char* p, const char* e, char limit,
                               bool tab_ok) noexcept {
#if defined(__SSE2__)
  const auto below = _mm_set1_epi8(limit);
  const auto del = _mm_set1_epi8(0x7f);
  const auto tab = _mm_set1_epi8('\t');
  const auto zero = _mm_setzero_si128();
  for (; e - p >= 16; p += 16) {
    auto v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // Signed: obs-text is negative, so "below the limit" excludes it.
    auto stop =
        _mm_andnot_si128(_mm_cmplt_epi8(v, zero), _mm_cmplt_epi8(v, below));
    if (tab_ok) stop = _mm_andnot_si128(_mm_cmpeq_epi8(v, tab), stop);
    stop = _mm_or_si128(stop, _mm_cmpeq_epi8(v, del));
    if (auto m = _mm_movemask_epi8(stop)) return p + __builtin_ctz(m);
  }
#endif
  for (; p < e; ++p) {
    auto u = static_cast<unsigned char>(*p);
    if ((u < static_cast<unsigned char>(limit) && !(tab_ok && u == '\t')) ||
        u == 0x7f)
      return p;
  }
  return e;
}

/// The version at `p` (at least 9 bytes): 11 or 10 for `HTTP/1.1` or
/// `HTTP/1.0` followed by `after`, else 0.
inline unsigned version_at(const char* p, char after) noexcept {
  if (std::memcmp(p, "HTTP/1.", 7) != 0 || p[8] != after) return 0;
  return p[7] == '1' ? 11 : p[7] == '0' ? 10 : 0;
}

/// A field found in the head. Trivial, so that the array of them is not
/// filled with zeros for each message.
struct field_span {
  const char* name;
  const char* value;
  uint32_t name_size;
  uint32_t value_size;
  boost::beast::http::field kind;

  std::string_view name_view() const noexcept { return {name, name_size}; }
  std::string_view value_view() const noexcept { return {value, value_size}; }
};

/// The most fields a simple head has.
inline constexpr size_t max_fields = 32;

/// The fields of a head, as `scan_fields` found them.
struct fields_scan {
  std::array<field_span, max_fields> fields;  ///< the first `size`
  size_t size = 0;
  bool has_length = false;
  uint64_t length = 0;      ///< the Content-Length, if `has_length`
  bool close = false;       ///< `Connection: close`
  bool keep_alive = false;  ///< `Connection: keep-alive`
};

/// Scans header fields from `p` to the empty line that ends them (all
/// before `end`); returns where the empty line ends, or null when they are
/// not of the simple form (or not all there).
inline const char* scan_fields(const char* p, const char* end,
                               fields_scan& out) noexcept {
  namespace bhttp = boost::beast::http;
  for (;;) {
    if (end - p < 2) return nullptr;
    if (p[0] == '\r') return p[1] == '\n' ? p + 2 : nullptr;
    if (out.size == out.fields.size()) return nullptr;
    // field-name ":" OWS field-value OWS CRLF
    auto name_at = p;
    while (p < end && is_token(*p)) ++p;
    if (p == name_at || p >= end || *p != ':') return nullptr;
    std::string_view name{name_at, static_cast<size_t>(p - name_at)};
    ++p;
    while (p < end && is_blank(*p)) ++p;
    // The value runs to its first control character, which must start a
    // CRLF whose next line does not continue this one (obs-fold).
    auto value_at = p;
    p = first_below(p, end, 0x20, true);
    if (end - p < 3 || p[0] != '\r' || p[1] != '\n' || is_blank(p[2]))
      return nullptr;
    auto value_end = p;
    while (value_end > value_at && is_blank(value_end[-1])) --value_end;
    std::string_view value{value_at, static_cast<size_t>(value_end - value_at)};
    p += 2;
    auto kind = bhttp::string_to_field(name);
    switch (kind) {
      case bhttp::field::transfer_encoding:
      case bhttp::field::upgrade:
      case bhttp::field::proxy_connection:
        return nullptr;
      case bhttp::field::connection:
        if (value.empty()) return nullptr;
        for (char c : value)
          if (!is_token(c)) return nullptr;
        out.close |= boost::beast::iequals(value, "close");
        out.keep_alive |= boost::beast::iequals(value, "keep-alive");
        break;
      case bhttp::field::content_length:
        if (out.has_length || value.empty() || value.size() > 18)
          return nullptr;
        for (char c : value) {
          if (c < '0' || c > '9') return nullptr;
          out.length = out.length * 10 + static_cast<uint64_t>(c - '0');
        }
        out.has_length = true;
        break;
      default:
        break;
    }
    out.fields[out.size++] = {name.data(), value.data(),
                              static_cast<uint32_t>(name.size()),
                              static_cast<uint32_t>(value.size()), kind};
  }
}

}  // namespace valmesh::web::simple_head
