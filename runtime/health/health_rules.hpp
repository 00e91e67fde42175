#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/registry/service_instance.hpp"

namespace valmesh {

/// What one health check found.
enum class check_verdict : uint8_t { passing, warning, critical };

/// "passing", "warning" or "critical".
std::string_view to_string(check_verdict x) noexcept;

/// Consul's rule for an HTTP check: 2xx passing, 429 warning, else critical.
check_verdict classify_http_status(unsigned status) noexcept;

/// The result of one check of one instance.
struct check_result {
  check_verdict verdict = check_verdict::critical;
  std::chrono::microseconds duration{0};
  std::string output;  ///< "HTTP 200", "timeout after 5000ms", "connect: ..."
};

/// The anti-flapping thresholds (README.md, "Health checks").
struct health_thresholds {
  uint32_t failures_before_critical = 2;
  uint32_t success_before_passing = 1;
};

/// Figures of one instance's checks, for `GET /api/health/services`.
struct check_stats {
  uint64_t checks = 0;
  uint64_t failures = 0;
  uint32_t consecutive_failures = 0;
  uint32_t consecutive_successes = 0;
  std::chrono::microseconds last_duration{0};
  std::chrono::microseconds total_duration{0};
  std::string last_output;
  std::string last_error;     ///< output of the last failed check
  int64_t last_check_ms = 0;  ///< Unix ms
  int64_t last_status_change_ms = 0;

  double success_rate() const noexcept {
    return checks == 0 ? 0.0
                       : static_cast<double>(checks - failures) /
                             static_cast<double>(checks);
  }
  std::chrono::microseconds mean_duration() const noexcept {
    return checks == 0 ? std::chrono::microseconds{0}
                       : total_duration / static_cast<int64_t>(checks);
  }
};

/// The health of one instance as its checks see it. The first result sets
/// the status directly (a new instance is `unknown` until then); after that,
/// `failures_before_critical` consecutive failures turn a passing or warning
/// instance critical, and `success_before_passing` consecutive successes
/// bring a critical one back. Passing and warning switch at once.
class instance_health {
 public:
  explicit instance_health(health_thresholds t = {}) : thresholds_(t) {}

  /// Applies one result at `now_ms` (Unix ms); returns the new status when
  /// it changed.
  std::optional<health_status> record(const check_result& r, int64_t now_ms);

  health_status status() const noexcept { return status_; }
  const check_stats& stats() const noexcept { return stats_; }

  /// The 99th percentile of the last `window` check durations.
  std::chrono::microseconds p99_duration() const;

  static constexpr size_t window = 32;

 private:
  health_thresholds thresholds_;
  health_status status_ = health_status::unknown;
  check_stats stats_;
  std::array<uint32_t, window> recent_us_{};  ///< µs, saturating at ~71 min
  uint32_t recent_count_ = 0;
};

/// Roll-up of a service (README.md, "Health checks").
enum class service_health : uint8_t { healthy, degraded, unhealthy };

std::string_view to_string(service_health x) noexcept;

/// The status of every instance of every service, rolled up into each
/// service's health and the overall health. `critical` services make the
/// whole unhealthy when they are. Incremental: a change costs O(log n), and
/// reading a service's or the overall health is O(log n) and O(1), so a
/// burst of registrations stays linear. Plain logic; the aggregator feeds it.
class health_rollup {
 public:
  explicit health_rollup(std::set<std::string> critical_services = {})
      : critical_(std::move(critical_services)) {}

  /// Sets one instance's status (registration or change).
  void set(const std::string& service, const std::string& id, health_status s);

  /// Forgets one instance (deregistration).
  void remove(const std::string& service, const std::string& id);

  /// Forgets everything (before a full resync).
  void clear();

  /// Whether `service` has instances.
  bool has(const std::string& service) const {
    return services_.count(service) > 0;
  }

  /// The health of `service`; unhealthy if unknown.
  service_health service(const std::string& name) const;

  /// healthy when every service is healthy (or there are none), unhealthy
  /// when every service is, or a critical service is; degraded otherwise.
  service_health overall() const;

  /// Every service with its health, ordered by name.
  std::map<std::string, service_health> services() const;

  /// Counts of instances per status of one service.
  std::map<health_status, uint32_t> counts(const std::string& name) const;

  bool is_critical(const std::string& name) const {
    return critical_.count(name) > 0;
  }

 private:
  struct service_state {
    std::map<std::string, health_status> members;
    std::array<uint32_t, 4> by_status{};  ///< indexed by health_status
  };

  static service_health roll(const service_state& s);
  void account(const std::string& name, const service_state& s, int sign);

  std::set<std::string> critical_;
  std::map<std::string, service_state> services_;
  size_t healthy_services_ = 0;
  size_t unhealthy_services_ = 0;
  size_t unhealthy_critical_ = 0;
};

}  // namespace valmesh
