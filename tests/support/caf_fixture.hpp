#pragma once

// Shared pieces of the CAF test-DSL suites: a config that knows valmesh's
// message types, and a clock that reads the test coordinator's time, so the
// plain classes and the actors' timers share one simulated time line.

#include <chrono>

#include "caf/test/dsl.hpp"

#include "actors/protocol.hpp"
#include "runtime/common/clock.hpp"

namespace valmesh::test {

struct test_config : caf::actor_system_config {
  test_config() { valmesh::add_message_types(*this); }
};

class coordinator_clock final : public valmesh::clock {
 public:
  explicit coordinator_clock(caf::scheduler::test_coordinator& sched)
      : sched_(sched) {}
  time_point now() const noexcept override { return sched_.clock().now(); }
  int64_t unix_ms() const noexcept override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               sched_.clock().now().time_since_epoch())
        .count();
  }

 private:
  caf::scheduler::test_coordinator& sched_;
};

}  // namespace valmesh::test
