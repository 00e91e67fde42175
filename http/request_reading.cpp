// How the server reads one request: the parser's limits and what each way a
// read can end means. Apart from the HTTP server's session (server.cpp),
// the request fuzzer (tests/fuzz/http_request_fuzz.cpp) compiles this file,
// so both run the same code over the same parser.

#include <array>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "http/server.hpp"

namespace valmesh::web {

namespace beast = boost::beast;

namespace {

/// RFC 9110's tchar: the characters of a method and a field name.
constexpr auto token_char = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view{"!#$%&'*+-.^_`|~"})
    t[static_cast<unsigned char>(c)] = true;
  return t;
}();

bool is_token(char c) noexcept {
  return token_char[static_cast<unsigned char>(c)];
}

/// The first byte of [p, e) that is below `limit` (a control character,
/// or also the space for a limit of 0x21) or DEL, a tab excepted when
/// `tab_ok`; `e` if none. Bytes from 0x80 (obs-text) pass. Sixteen bytes
/// at a time: a header value is one pass that finds its end and checks
/// every byte of it.
const char* first_below(const char* p, const char* e, char limit,
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

bool is_blank(char c) noexcept {
  return c == ' ' || c == '\t';
}

/// A field found in the head. Trivial, so that the array of them is not
/// filled with zeros for each request.
struct field_span {
  const char* name;
  const char* value;
  uint32_t name_size;
  uint32_t value_size;
  beast_http::field kind;
};

}  // namespace

size_t read_simple_request(std::string_view bytes,
                           const server_options& options, request& out) {
  const char* p = bytes.data();
  // Only the head is scanned against the header limit; past it, or at the
  // end of the bytes, Beast's parser takes over.
  const char* end = p + std::min<size_t>(bytes.size(), options.header_limit);
  // request-line = method SP request-target SP HTTP-version CRLF
  auto method_at = p;
  while (p < end && is_token(*p)) ++p;
  if (p == method_at || p >= end || *p != ' ') return 0;
  std::string_view method{method_at, static_cast<size_t>(p - method_at)};
  // The target is what Beast takes (bytes above the space but DEL) up to
  // the space.
  auto target_at = ++p;
  p = first_below(p, end, 0x21, false);
  if (p == target_at || p >= end || *p != ' ') return 0;
  std::string_view target{target_at, static_cast<size_t>(p - target_at)};
  ++p;
  if (end - p < 10) return 0;
  unsigned version = 0;
  if (std::memcmp(p, "HTTP/1.1\r\n", 10) == 0)
    version = 11;
  else if (std::memcmp(p, "HTTP/1.0\r\n", 10) == 0)
    version = 10;
  else
    return 0;
  p += 10;
  // header-field = field-name ":" OWS field-value OWS CRLF, up to the
  // empty line.
  std::array<field_span, simple_request_fields> fields;
  size_t n_fields = 0;
  bool has_length = false;
  uint64_t length = 0;
  for (;;) {
    if (end - p < 2) return 0;
    if (p[0] == '\r') {
      if (p[1] != '\n') return 0;
      p += 2;
      break;
    }
    if (n_fields == fields.size()) return 0;
    auto name_at = p;
    while (p < end && is_token(*p)) ++p;
    if (p == name_at || p >= end || *p != ':') return 0;
    std::string_view name{name_at, static_cast<size_t>(p - name_at)};
    ++p;
    while (p < end && is_blank(*p)) ++p;
    // The value runs to its first control character, which must start a
    // CRLF whose next line does not continue this one (obs-fold).
    auto value_at = p;
    p = first_below(p, end, 0x20, true);
    if (end - p < 3 || p[0] != '\r' || p[1] != '\n' || is_blank(p[2])) return 0;
    auto value_end = p;
    while (value_end > value_at && is_blank(value_end[-1])) --value_end;
    std::string_view value{value_at, static_cast<size_t>(value_end - value_at)};
    p += 2;
    auto kind = beast_http::string_to_field(name);
    switch (kind) {
      case beast_http::field::transfer_encoding:
      case beast_http::field::upgrade:
      case beast_http::field::proxy_connection:
        return 0;
      case beast_http::field::connection:
        if (value.empty()) return 0;
        for (char c : value)
          if (!is_token(c)) return 0;
        break;
      case beast_http::field::content_length:
        if (has_length || value.empty() || value.size() > 18) return 0;
        for (char c : value) {
          if (c < '0' || c > '9') return 0;
          length = length * 10 + static_cast<uint64_t>(c - '0');
        }
        has_length = true;
        break;
      default:
        break;
    }
    fields[n_fields++] = {name.data(), value.data(),
                          static_cast<uint32_t>(name.size()),
                          static_cast<uint32_t>(value.size()), kind};
  }
  auto head = static_cast<size_t>(p - bytes.data());
  if (length > options.body_limit || bytes.size() - head < length) return 0;
  // What Beast's parser does with the same request (`on_request_impl`,
  // `on_field_impl`, the string body).
  out.method_string(method);
  out.target(target);
  out.version(version);
  for (size_t i = 0; i < n_fields; ++i)
    out.insert(fields[i].kind, {fields[i].name, fields[i].name_size},
               {fields[i].value, fields[i].value_size});
  out.body().assign(p, static_cast<size_t>(length));
  return head + static_cast<size_t>(length);
}

void prepare_parser(request_parser& p, const server_options& options) {
  p.body_limit(options.body_limit);
  p.header_limit(options.header_limit);
}

read_verdict judge_read(const boost::system::error_code& ec,
                        const request_parser& p,
                        const server_options& options) {
  auto too_large = [&] {
    return read_verdict{read_verdict::reject,
                        {errc::payload_too_large,
                         "the request body is larger than " +
                             std::to_string(options.body_limit) + " bytes"}};
  };
  // The client closed between requests (the session shuts down its side),
  // or timed out (Beast's timeout; the session's deadline sweep closes the
  // socket instead, which ends the read with `operation_aborted`, below).
  if (ec == beast_http::error::end_of_stream || ec == beast::error::timeout)
    return {read_verdict::close, {}};
  if (ec == beast_http::error::body_limit) return too_large();
  if (ec == beast_http::error::header_limit)
    return {read_verdict::reject,
            {errc::header_too_large, "the request headers are too large"}};
  if (ec) {
    // Beast's parser errors share one category; anything else is the
    // transport (reset, aborted, end of stream) with nobody left to answer.
    if (ec.category() ==
        beast_http::make_error_code(beast_http::error::bad_target).category())
      return {
          read_verdict::reject,
          {errc::invalid_argument, "malformed HTTP request: " + ec.message()}};
    return {read_verdict::close, {}};
  }
  // Boost 1.74's parser may skip its body limit when header and body come
  // in one read: enforce it here too.
  if (p.get().body().size() > options.body_limit) return too_large();
  return {read_verdict::serve, {}};
}

}  // namespace valmesh::web
