// `Last-Event-ID` (and `?lastEventId=`) as GET /api/events reads it
// (http/router.cpp, parse_event_id): digits only, and whatever parses is
// the number those digits spell.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/router.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto id = valmesh::web::parse_event_id(text);
  if (!id) return 0;
  auto printed = std::to_string(*id);
  // Leading zeros aside, the text is the number.
  auto digits = text.substr(std::min(text.find_first_not_of('0'), text.size()));
  if (digits.empty() ? *id != 0 : digits != printed) std::abort();
  return 0;
}
