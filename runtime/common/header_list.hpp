#pragma once

#include <string>
#include <utility>
#include <vector>

namespace valmesh {

/// HTTP header fields as name and value, in the order they came.
///
/// A plain vector: on the proxy path a message's headers are moved from
/// reader to call to result about a dozen times, and a vector moves by its
/// three pointers. A small_vector with room for ten inside saved the one
/// allocation per list but moved element by element, which cost about 3,000
/// more instructions per proxied request than it saved
/// (docs/ARCHITECTURE.md, "The proxy path's memory").
using header_list = std::vector<std::pair<std::string, std::string>>;

}  // namespace valmesh
