#pragma once

// The bytes of valmesh's data dir: the encoding of one catalog mutation, the
// record framing with a checksum, and the file header shared by the log and
// the snapshot. Pure functions over buffers: no files, no CAF.
//
// A file (log or snapshot) is a 16-byte header followed by records:
//
//   header  = "valmesh\0" (8 bytes) | u32 format version | u32 file kind
//   record  = u32 payload length | u32 crc32c(payload) | payload
//   payload = u8 kind | fields (varints, length-prefixed strings)
//
// Integers are little endian. A record whose length runs past the end of the
// file is torn (the process died while writing it); one whose checksum or
// payload does not check out is corrupt. Readers stop at the first of either.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "runtime/registry/service_instance.hpp"

namespace valmesh {

/// A change of the catalog as the store persists it. Only what survives a
/// restart is written: registrations, updates and status changes (`put`:
/// the instance's client fields plus `registeredAt`, `node`, the two
/// indexes, its status and its revision), deletions (`bury`: a tombstone,
/// so that replicas that missed the deletion learn of it after a restart
/// too), tombstones dropped after their time (`forget`), and, in a
/// snapshot, the catalog's index. Heartbeat times and check results are not
/// persisted (docs/ARCHITECTURE.md, "State and durability").
///
/// Records of kinds `put_v1` and `remove_v1` (written before revisions
/// existed) are still read: an instance from one has revision 0, so any
/// replicated write supersedes it. So are `put_v2` records (written before
/// the registration's version was kept): their instances count their
/// revision as their registration.
struct store_mutation {
  enum class kind : uint8_t {
    put_v1 = 1,
    remove_v1 = 2,
    index = 3,
    put_v2 = 4,
    bury = 5,
    forget = 6,
    put = 7,
  };
  kind what = kind::put;
  /// put: the instance; bury: its name, id, node and revision; forget and
  /// remove_v1: its name and id.
  service_instance instance;
  /// bury, remove_v1 and index: the catalog index of the change.
  uint64_t index = 0;
  /// bury: Unix ms when the deletion was learned of.
  int64_t at_ms = 0;

  static store_mutation put(service_instance x);
  static store_mutation bury(const tombstone& t);
  static store_mutation forget(std::string name, std::string id);
  /// A deletion without a tombstone, as older data dirs hold them.
  static store_mutation remove(std::string name, std::string id,
                               uint64_t index);
  static store_mutation mark_index(uint64_t index);

  /// The tombstone a `bury` record holds.
  tombstone as_tombstone() const;
};

namespace store_format {

inline constexpr std::string_view magic{"valmesh\0", 8};
inline constexpr uint32_t version = 1;
inline constexpr size_t header_size = 16;
inline constexpr size_t record_overhead = 8;
/// Larger payloads are taken for corruption (an instance at the API's limits
/// encodes to well under 100 KiB).
inline constexpr uint32_t max_payload = 4 * 1024 * 1024;

enum class file_kind : uint32_t { log = 1, snapshot = 2 };

/// Returns the CRC-32C (Castagnoli) of `bytes`.
uint32_t crc32c(std::string_view bytes) noexcept;

/// Returns the header of a file of kind `k`.
std::string header(file_kind k);

/// What the first bytes of a file are.
enum class header_state {
  ok,       ///< a valmesh file of the expected kind and version
  torn,     ///< shorter than a header, and a prefix of a valid one
  foreign,  ///< not a valmesh file of this kind (or another version)
};

/// Checks the header at the start of `bytes`.
header_state check_header(std::string_view bytes, file_kind k) noexcept;

/// Appends the payload of `m` to `out`.
void encode(const store_mutation& m, std::string& out);

/// Decodes a payload; nothing if it is malformed.
std::optional<store_mutation> decode(std::string_view payload);

/// Appends one framed record (length, checksum, `payload`) to `out`.
void append_record(std::string_view payload, std::string& out);

/// Appends the framed record of `m` to `out`.
void append_record(const store_mutation& m, std::string& out);

/// Why a scan stopped.
enum class scan_stop {
  end,      ///< every byte belonged to a valid record
  torn,     ///< the last record is incomplete
  corrupt,  ///< a record's checksum or payload is wrong
};

/// Where a scan stopped and why.
struct scan_result {
  scan_stop stop = scan_stop::end;
  size_t valid_end = 0;  ///< offset just past the last valid record
  size_t records = 0;    ///< valid records seen
};

/// Walks the records of `bytes` from `offset` (just past the header) and
/// calls `on_record(mutation)` for each valid one, in order, up to the first
/// torn or corrupt record.
template <class F>
scan_result scan(std::string_view bytes, size_t offset, F&& on_record);

/// Reads a little-endian u32 (the caller checked the bounds).
uint32_t load_u32(const char* p) noexcept;

}  // namespace store_format

// -- template implementation
// ----------------------------------------------------

template <class F>
store_format::scan_result store_format::scan(std::string_view bytes,
                                             size_t offset, F&& on_record) {
  scan_result r;
  r.valid_end = offset;
  size_t pos = offset;
  while (pos < bytes.size()) {
    if (bytes.size() - pos < record_overhead) {
      r.stop = scan_stop::torn;
      return r;
    }
    auto len = load_u32(bytes.data() + pos);
    auto crc = load_u32(bytes.data() + pos + 4);
    if (len > max_payload) {
      r.stop = scan_stop::corrupt;
      return r;
    }
    if (bytes.size() - pos - record_overhead < len) {
      r.stop = scan_stop::torn;
      return r;
    }
    auto payload = bytes.substr(pos + record_overhead, len);
    if (crc32c(payload) != crc) {
      r.stop = scan_stop::corrupt;
      return r;
    }
    auto m = decode(payload);
    if (!m) {
      r.stop = scan_stop::corrupt;
      return r;
    }
    on_record(std::move(*m));
    pos += record_overhead + len;
    r.valid_end = pos;
    ++r.records;
  }
  return r;
}

}  // namespace valmesh
