#pragma once

// Header names the proxy path reads, replaces or drops, told apart in one
// look per header (the length and first letter, then one comparison)
// instead of a case-insensitive comparison with every name.

#include <cstdint>
#include <string_view>

namespace valmesh::web {

/// The headers the mesh reads or replaces, told apart by name (case
/// insensitive); `other` for the rest.
enum class header_kind : uint8_t {
  other,
  hop_by_hop,         ///< Keep-Alive, TE, Trailer, Upgrade, Proxy-*
  connection,         ///< hop-by-hop too, and names more
  transfer_encoding,  ///< hop-by-hop too, and framing
  content_length,
  host,
  x_correlation_id,
  x_forwarded_for,
  x_forwarded_host,
  x_valmesh_timeout_ms,
  x_valmesh_retries,
  x_valmesh_attempts,
  x_valmesh_instance,
  traceparent,
  tracestate,
};

/// The kind of the header called `name` (a token, as a parser checked it).
header_kind classify_header(std::string_view name) noexcept;

/// Whether `name` is a hop-by-hop header (RFC 9110 §7.6.1), which a proxy
/// must not forward: Connection, Keep-Alive, TE, Trailer, Transfer-Encoding,
/// Upgrade and Proxy-*.
bool is_hop_by_hop(std::string_view name) noexcept;

}  // namespace valmesh::web
