#pragma once

#include <string>
#include <utility>
#include <vector>

#include "runtime/common/recycling_allocator.hpp"

namespace valmesh {

/// HTTP header fields as name and value, in the order they came.
///
/// A plain vector: on the proxy path a message's headers are moved from
/// reader to call to result about a dozen times, and a vector moves by its
/// three pointers. A small_vector with room for ten inside saved the one
/// allocation per list but moved element by element, which cost about 3,000
/// more instructions per proxied request than it saved
/// (docs/ARCHITECTURE.md, "The proxy path's memory"). Its storage comes
/// from the thread's `recycling_allocator`, so the lists made and dropped
/// per request on a loop cost no `malloc` in the steady state.
using header_list =
    std::vector<std::pair<std::string, std::string>,
                recycling_allocator<std::pair<std::string, std::string>>>;

}  // namespace valmesh
