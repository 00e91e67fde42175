#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace valmesh {

/// Parses a duration as config and flags take it: a non-negative whole number
/// followed by a unit, `ms`, `s`, `m` or `h` (`250ms`, `5s`, `2m`, `1h`).
/// Returns nothing for anything else (no unit, a sign, a fraction, overflow).
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

/// Formats `d` the way `parse_duration` reads it back: whole seconds as `Ns`,
/// anything else as `Nms`.
std::string format_duration(std::chrono::milliseconds d);

}  // namespace valmesh
