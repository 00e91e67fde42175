#include "runtime/health_rules.hpp"

#include <algorithm>

namespace valmesh {

check_verdict classify_http_status(unsigned status) noexcept {
  if (status >= 200 && status < 300) return check_verdict::passing;
  if (status == 429) return check_verdict::warning;
  return check_verdict::critical;
}

std::optional<health_status> instance_health::record(const check_result& r,
                                                     int64_t now_ms) {
  auto& s = stats_;
  ++s.checks;
  s.last_duration = r.duration;
  s.total_duration += r.duration;
  s.last_output = r.output;
  s.last_check_ms = now_ms;
  recent_us_[recent_count_ % window] = r.duration.count();
  ++recent_count_;
  bool failed = r.verdict == check_verdict::critical;
  if (failed) {
    ++s.failures;
    ++s.consecutive_failures;
    s.consecutive_successes = 0;
    s.last_error = r.output;
  } else {
    ++s.consecutive_successes;
    s.consecutive_failures = 0;
  }
  auto ok_status = r.verdict == check_verdict::warning ? health_status::warning
                                                       : health_status::passing;
  auto next = status_;
  switch (status_) {
    case health_status::unknown:
      next = failed ? health_status::critical : ok_status;
      break;
    case health_status::passing:
    case health_status::warning:
      if (!failed)
        next = ok_status;
      else if (s.consecutive_failures >= thresholds_.failures_before_critical)
        next = health_status::critical;
      break;
    case health_status::critical:
      if (!failed &&
          s.consecutive_successes >= thresholds_.success_before_passing)
        next = ok_status;
      break;
  }
  if (next == status_) return std::nullopt;
  status_ = next;
  s.last_status_change_ms = now_ms;
  return next;
}

std::chrono::microseconds instance_health::p99_duration() const {
  auto n = std::min(recent_count_, window);
  if (n == 0) return std::chrono::microseconds{0};
  std::vector<int64_t> xs(recent_us_.begin(), recent_us_.begin() + n);
  auto rank = (n * 99 + 99) / 100 - 1;  // nearest-rank percentile
  std::nth_element(xs.begin(), xs.begin() + rank, xs.end());
  return std::chrono::microseconds{xs[rank]};
}

std::string_view to_string(service_health x) noexcept {
  switch (x) {
    case service_health::healthy:
      return "healthy";
    case service_health::degraded:
      return "degraded";
    case service_health::unhealthy:
      return "unhealthy";
  }
  return "unhealthy";
}

void health_rollup::set(const std::string& service, const std::string& id,
                        health_status s) {
  services_[service][id] = s;
}

void health_rollup::remove(const std::string& service, const std::string& id) {
  auto i = services_.find(service);
  if (i == services_.end()) return;
  i->second.erase(id);
  if (i->second.empty()) services_.erase(i);
}

service_health health_rollup::roll(
    const std::map<std::string, health_status>& xs) {
  size_t passing = 0, healthy = 0;
  for (auto& [_, s] : xs) {
    if (s == health_status::passing) ++passing;
    if (is_healthy(s)) ++healthy;
  }
  if (!xs.empty() && passing == xs.size()) return service_health::healthy;
  if (healthy > 0) return service_health::degraded;
  return service_health::unhealthy;
}

service_health health_rollup::service(const std::string& name) const {
  auto i = services_.find(name);
  return i == services_.end() ? service_health::unhealthy : roll(i->second);
}

service_health health_rollup::overall() const {
  if (services_.empty()) return service_health::healthy;
  size_t healthy = 0, unhealthy = 0;
  for (auto& [name, xs] : services_) {
    auto h = roll(xs);
    if (h == service_health::healthy) ++healthy;
    if (h == service_health::unhealthy) {
      ++unhealthy;
      if (is_critical(name)) return service_health::unhealthy;
    }
  }
  if (healthy == services_.size()) return service_health::healthy;
  if (unhealthy == services_.size()) return service_health::unhealthy;
  return service_health::degraded;
}

std::map<std::string, service_health> health_rollup::services() const {
  std::map<std::string, service_health> result;
  for (auto& [name, xs] : services_) result.emplace(name, roll(xs));
  return result;
}

std::map<health_status, uint32_t> health_rollup::counts(
    const std::string& name) const {
  std::map<health_status, uint32_t> result;
  auto i = services_.find(name);
  if (i != services_.end())
    for (auto& [_, s] : i->second) ++result[s];
  return result;
}

}  // namespace valmesh
