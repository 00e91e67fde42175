#include "runtime/cluster/hlc.hpp"

#include <algorithm>

namespace valmesh {

uint64_t hybrid_clock::now() noexcept {
  auto pt = clock_.unix_ms();
  if (pt > physical_ms(last_)) {
    last_ = make(pt, 0);
  } else {
    // The wall clock stands still or went back: count instead. A full
    // counter (0xffff) carries into the millisecond bits, so the stamp moves
    // on to the next millisecond at counter 0 and stays ordered.
    ++last_;
  }
  return last_;
}

void hybrid_clock::observe(uint64_t remote) noexcept {
  last_ = std::max(last_, remote);
}

}  // namespace valmesh
