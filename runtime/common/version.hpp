#pragma once

namespace valmesh {

/// The release of this build (the `version` command and the Server header).
inline constexpr const char* version = "0.1.0";

/// The `Server` header of every response.
inline constexpr const char* server_header = "valmesh/0.1.0";

}  // namespace valmesh
