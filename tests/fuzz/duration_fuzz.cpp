// Durations as config files and flags give them (runtime/common/duration):
// anything parses or is refused without a crash, and whatever parses is
// formatted back to text that parses to the same value.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "runtime/common/duration.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto d = valmesh::parse_duration(text);
  if (!d) return 0;
  if (d->count() < 0) std::abort();
  auto again = valmesh::parse_duration(valmesh::format_duration(*d));
  if (!again || *again != *d) std::abort();
  return 0;
}
