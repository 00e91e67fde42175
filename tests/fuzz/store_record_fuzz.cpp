// The data dir's bytes (runtime/store/store_format): a record payload as
// `decode` reads it, and a whole file as recovery scans it. The first byte
// picks which. A payload that decodes must encode back to bytes that decode
// to the same mutation; a scan must stop inside the input, on a record
// boundary, having applied only records that decode.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "runtime/store/durable_store.hpp"
#include "runtime/store/store_format.hpp"

using namespace valmesh;
namespace fmt_ = valmesh::store_format;

namespace {

bool same(const store_mutation& a, const store_mutation& b) {
  return a.what == b.what && a.index == b.index && a.at_ms == b.at_ms &&
         to_json(a.instance) == to_json(b.instance) &&
         a.instance.revision == b.instance.revision;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view bytes{reinterpret_cast<const char*>(data) + 1, size - 1};
  if ((data[0] & 1) == 0) {
    auto m = fmt_::decode(bytes);
    if (!m) return 0;
    std::string again;
    fmt_::encode(*m, again);
    auto m2 = fmt_::decode(again);
    if (!m2 || !same(*m, *m2)) std::abort();
    return 0;
  }
  // A log file: header, then records, replayed into an image as recovery
  // does.
  auto kind = (data[0] & 2) ? fmt_::file_kind::snapshot : fmt_::file_kind::log;
  if (fmt_::check_header(bytes, kind) != fmt_::header_state::ok) return 0;
  store_image image;
  auto r = fmt_::scan(bytes, fmt_::header_size,
                      [&](const store_mutation& m) { image.apply(m); });
  if (r.valid_end < fmt_::header_size || r.valid_end > bytes.size())
    std::abort();
  if (r.stop == fmt_::scan_stop::end && r.valid_end != bytes.size())
    std::abort();
  // What is left after cutting the tail scans clean to the same records.
  auto kept = bytes.substr(0, r.valid_end);
  size_t again = 0;
  auto r2 = fmt_::scan(kept, fmt_::header_size,
                       [&](const store_mutation&) { ++again; });
  if (r2.stop != fmt_::scan_stop::end || again != r.records) std::abort();
  (void)image.contents();
  std::string rewritten;
  image.write_records(rewritten);
  return 0;
}
