#include "runtime/common/duration.hpp"

#include <cstdint>
#include <limits>

namespace valmesh {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  size_t i = 0;
  uint64_t n = 0;
  // The limit depends on the unit: any count of milliseconds that fits
  // int64 is a duration, in every unit that can spell it (so that what
  // format_duration writes always reads back).
  constexpr uint64_t max_ms = std::numeric_limits<int64_t>::max();
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    auto digit = static_cast<uint64_t>(text[i] - '0');
    if (n > (max_ms - digit) / 10) return std::nullopt;
    n = n * 10 + digit;
  }
  if (i == 0) return std::nullopt;
  auto unit = text.substr(i);
  int64_t scale = 0;
  if (unit == "ms")
    scale = 1;
  else if (unit == "s")
    scale = 1'000;
  else if (unit == "m")
    scale = 60'000;
  else if (unit == "h")
    scale = 3'600'000;
  else
    return std::nullopt;
  if (n > max_ms / static_cast<uint64_t>(scale)) return std::nullopt;
  return std::chrono::milliseconds{static_cast<int64_t>(n) * scale};
}

std::string format_duration(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

}  // namespace valmesh
