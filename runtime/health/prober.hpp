#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "runtime/health/health_rules.hpp"

namespace valmesh {

/// Where a health check goes.
struct probe_target {
  std::string host;
  uint16_t port = 0;
  std::string path = "/health";
};

/// Runs health checks without blocking: `probe` returns at once and calls
/// `done` (on an I/O thread) with the result. The health checkers hold one;
/// `http/prober.hpp` makes the real one, tests give them a fake.
class prober {
 public:
  using callback = std::function<void(check_result)>;
  virtual ~prober() = default;
  virtual void probe(const probe_target& target,
                     std::chrono::milliseconds timeout, callback done) = 0;
};

}  // namespace valmesh
