#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <string_view>

#include "runtime/clock.hpp"

namespace valmesh {

/// When a child is restarted (OTP's vocabulary).
enum class restart_type : uint8_t {
  permanent,  ///< always
  transient,  ///< only after an abnormal exit
  temporary,  ///< never
};

/// Which children a failure restarts.
enum class restart_strategy : uint8_t {
  one_for_one,
  one_for_all,
  rest_for_one
};

std::string_view to_string(restart_type x) noexcept;
std::string_view to_string(restart_strategy x) noexcept;

/// Whether a child of type `t` that exited (abnormally or not) comes back.
bool should_restart(restart_type t, bool abnormal) noexcept;

/// OTP's restart intensity: at most `intensity` restarts within any `period`.
/// One more means the supervisor gives up and escalates to its parent.
class restart_intensity {
 public:
  restart_intensity(uint32_t intensity, clock::duration period)
      : intensity_(intensity), period_(period) {}

  /// Records a restart at `now`; returns false if that exceeds the limit.
  bool record(clock::time_point now) {
    while (!recent_.empty() && now - recent_.front() >= period_)
      recent_.pop_front();
    recent_.push_back(now);
    return recent_.size() <= intensity_;
  }

  uint32_t intensity() const noexcept { return intensity_; }
  clock::duration period() const noexcept { return period_; }

 private:
  uint32_t intensity_;
  clock::duration period_;
  std::deque<clock::time_point> recent_;
};

}  // namespace valmesh
