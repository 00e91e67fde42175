#pragma once

#include <string>

namespace valmesh {

/// Sets up the process-wide spdlog logger on stdout: `level` is one of
/// spdlog's level names, `format` is "text" (human lines) or "json" (one
/// JSON object per line: ts, level, msg).
void setup_logging(const std::string& level, const std::string& format);

}  // namespace valmesh
