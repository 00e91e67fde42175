#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/common/clock.hpp"

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

/// The restart bookkeeping of a supervisor whose children come and go with
/// the registry (OTP's `simple_one_for_one`: health and mesh supervisors):
/// one restart intensity over all children, and each child's history by
/// name, kept across its incarnations for introspection.
class dynamic_supervision {
 public:
  struct history {
    uint32_t restarts = 0;
    std::string last_reason;  ///< empty: never failed
    int64_t last_failure_ms = 0;
  };

  dynamic_supervision(uint32_t intensity, clock::duration period)
      : window_(intensity, period) {}

  /// Records that `child` failed with `reason` at `now` (`unix_ms` for
  /// display). Returns whether it may be restarted (it then counts as
  /// restarted); false means too many restarts: escalate.
  bool on_failure(const std::string& child, std::string reason,
                  clock::time_point now, int64_t unix_ms) {
    auto& h = children_[child];
    h.last_reason = std::move(reason);
    h.last_failure_ms = unix_ms;
    if (!window_.record(now)) return false;
    ++h.restarts;
    return true;
  }

  /// The history of `child`; null if it never failed.
  const history* find(const std::string& child) const {
    auto i = children_.find(child);
    return i == children_.end() ? nullptr : &i->second;
  }

  uint32_t intensity() const noexcept { return window_.intensity(); }
  clock::duration period() const noexcept { return window_.period(); }

 private:
  restart_intensity window_;
  std::map<std::string, history> children_;
};

/// What a supervisor does about one child's exit.
struct supervision_decision {
  enum class action : uint8_t {
    /// Nothing else moves: the child is not restarted (temporary, or a
    /// transient that ended normally) and stays stopped.
    forget,
    /// Stop the children in `stop` (youngest first), then start the
    /// children in `start` (oldest first). `start` always holds the child
    /// that exited; `stop` never does (it is gone already).
    restart,
    /// Too many restarts within the period: stop every child and exit
    /// with the child's reason, so the parent decides (OTP's escalation).
    escalate,
  };
  action what = action::forget;
  std::vector<size_t> stop;
  std::vector<size_t> start;
};

/// The rules of one supervisor (OTP's `supervisor` behaviour without the
/// process part): given which child exited and how, which children to stop
/// and start again, or whether to give up. No CAF in it; the supervisor
/// actor applies its decisions.
///
/// Children are known by their index in start order. Siblings stopped by a
/// `one_for_all` or `rest_for_one` restart come back too unless they are
/// `temporary` (those are forgotten, as in OTP).
class supervisor_policy {
 public:
  supervisor_policy(restart_strategy strategy, uint32_t intensity,
                    clock::duration period)
      : strategy_(strategy), window_(intensity, period) {}

  /// Decides about child `index` of `types` (the restart types of every
  /// child, running or not) exiting at `now`. `running[i]` tells whether
  /// child i is currently running (only running siblings are stopped).
  supervision_decision on_exit(size_t index,
                               const std::vector<restart_type>& types,
                               const std::vector<bool>& running, bool abnormal,
                               clock::time_point now);

  restart_strategy strategy() const noexcept { return strategy_; }
  uint32_t intensity() const noexcept { return window_.intensity(); }
  clock::duration period() const noexcept { return window_.period(); }

 private:
  restart_strategy strategy_;
  restart_intensity window_;
};

}  // namespace valmesh
