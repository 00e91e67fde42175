#include "runtime/cluster/hlc.hpp"

#include <algorithm>

namespace valmesh {

uint64_t hybrid_clock::now() noexcept {
  auto pt = clock_.unix_us();
  if (pt > physical_us(last_)) {
    last_ = make(pt, 0);
  } else {
    // The wall clock stands still or went back: count instead. A full
    // counter carries into the microsecond bits, so the stamp moves on to
    // the next microsecond at counter 0 and stays ordered.
    ++last_;
  }
  return last_;
}

void hybrid_clock::observe(uint64_t remote) noexcept {
  last_ = std::max(last_, remote);
}

}  // namespace valmesh
