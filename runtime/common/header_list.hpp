#pragma once

#include <string>
#include <utility>

#include <boost/container/small_vector.hpp>

namespace valmesh {

/// HTTP header fields as name and value, in the order they came. Room for
/// `inline_headers` of them inside (a typical request or answer has fewer),
/// so carrying a message's headers allocates no array on the proxy path.
inline constexpr std::size_t inline_headers = 10;
using header_list =
    boost::container::small_vector<std::pair<std::string, std::string>,
                                   inline_headers>;

}  // namespace valmesh
