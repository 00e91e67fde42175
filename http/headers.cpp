#include "http/headers.hpp"

namespace valmesh::web {

namespace {

/// Whether `name` (a header name: token characters only) equals `lower`
/// (lower-case letters and '-') in any case. Setting bit 5 lower-cases a
/// letter and leaves '-' and the other token characters that can match as
/// they are.
bool is_named(std::string_view name, std::string_view lower) noexcept {
  if (name.size() != lower.size()) return false;
  for (size_t i = 0; i < name.size(); ++i)
    if ((static_cast<unsigned char>(name[i]) | 0x20u) !=
        static_cast<unsigned char>(lower[i]))
      return false;
  return true;
}

}  // namespace

header_kind classify_header(std::string_view n) noexcept {
  using k = header_kind;
  // The length and the first letter first: at most one name to compare.
  if (n.empty()) return k::other;
  auto first = static_cast<char>(static_cast<unsigned char>(n[0]) | 0x20u);
  switch (n.size()) {
    case 2:
      if (is_named(n, "te")) return k::hop_by_hop;
      break;
    case 4:
      if (is_named(n, "host")) return k::host;
      break;
    case 7:
      if (first == 't' && is_named(n, "trailer")) return k::hop_by_hop;
      if (first == 'u' && is_named(n, "upgrade")) return k::hop_by_hop;
      break;
    case 10:
      if (first == 'c' && is_named(n, "connection")) return k::connection;
      if (first == 'k' && is_named(n, "keep-alive")) return k::hop_by_hop;
      if (first == 't' && is_named(n, "tracestate")) return k::tracestate;
      break;
    case 11:
      if (first == 't' && is_named(n, "traceparent")) return k::traceparent;
      break;
    case 14:
      if (first == 'c' && is_named(n, "content-length"))
        return k::content_length;
      break;
    case 15:
      if (first == 'x' && is_named(n, "x-forwarded-for"))
        return k::x_forwarded_for;
      break;
    case 16:
      if (first != 'x') break;
      if (is_named(n, "x-correlation-id")) return k::x_correlation_id;
      if (is_named(n, "x-forwarded-host")) return k::x_forwarded_host;
      break;
    case 17:
      if (first == 't' && is_named(n, "transfer-encoding"))
        return k::transfer_encoding;
      if (first == 'x' && is_named(n, "x-valmesh-retries"))
        return k::x_valmesh_retries;
      break;
    case 18:
      if (first != 'x') break;
      if (is_named(n, "x-valmesh-attempts")) return k::x_valmesh_attempts;
      if (is_named(n, "x-valmesh-instance")) return k::x_valmesh_instance;
      break;
    case 20:
      if (first == 'x' && is_named(n, "x-valmesh-timeout-ms"))
        return k::x_valmesh_timeout_ms;
      break;
    default:
      break;
  }
  if (first == 'p' && n.size() >= 6 && is_named(n.substr(0, 6), "proxy-"))
    return k::hop_by_hop;
  return k::other;
}

bool is_hop_by_hop(std::string_view name) noexcept {
  auto k = classify_header(name);
  return k == header_kind::hop_by_hop || k == header_kind::connection ||
         k == header_kind::transfer_encoding;
}

}  // namespace valmesh::web
