#include "runtime/health/health_rules.hpp"

#include <algorithm>
#include <cstdint>

namespace valmesh {

std::string_view to_string(check_verdict x) noexcept {
  switch (x) {
    case check_verdict::passing:
      return "passing";
    case check_verdict::warning:
      return "warning";
    case check_verdict::critical:
      return "critical";
  }
  return "critical";
}

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
  recent_us_[recent_count_ % window] =
      static_cast<uint32_t>(std::min<int64_t>(r.duration.count(), UINT32_MAX));
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
  size_t n = std::min<size_t>(recent_count_, window);
  if (n == 0) return std::chrono::microseconds{0};
  std::vector<uint32_t> xs(recent_us_.begin(), recent_us_.begin() + n);
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

service_health health_rollup::roll(const service_state& s) {
  auto total = s.members.size();
  auto passing = s.by_status[static_cast<size_t>(health_status::passing)];
  auto warning = s.by_status[static_cast<size_t>(health_status::warning)];
  if (total > 0 && passing == total) return service_health::healthy;
  if (passing + warning > 0) return service_health::degraded;
  return service_health::unhealthy;
}

void health_rollup::account(const std::string& name, const service_state& s,
                            int sign) {
  auto h = roll(s);
  auto apply = [sign](size_t& counter) {
    counter = sign > 0 ? counter + 1 : counter - 1;
  };
  if (h == service_health::healthy) apply(healthy_services_);
  if (h == service_health::unhealthy) {
    apply(unhealthy_services_);
    if (is_critical(name)) apply(unhealthy_critical_);
  }
}

void health_rollup::set(const std::string& service, const std::string& id,
                        health_status s) {
  auto [i, fresh] = services_.try_emplace(service);
  auto& st = i->second;
  if (!fresh) account(service, st, -1);
  auto [m, added] = st.members.try_emplace(id, s);
  if (!added) {
    --st.by_status[static_cast<size_t>(m->second)];
    m->second = s;
  }
  ++st.by_status[static_cast<size_t>(s)];
  account(service, st, +1);
}

void health_rollup::remove(const std::string& service, const std::string& id) {
  auto i = services_.find(service);
  if (i == services_.end()) return;
  auto& st = i->second;
  auto m = st.members.find(id);
  if (m == st.members.end()) return;
  account(service, st, -1);
  --st.by_status[static_cast<size_t>(m->second)];
  st.members.erase(m);
  if (st.members.empty())
    services_.erase(i);
  else
    account(service, st, +1);
}

void health_rollup::clear() {
  services_.clear();
  healthy_services_ = unhealthy_services_ = unhealthy_critical_ = 0;
}

service_health health_rollup::service(const std::string& name) const {
  auto i = services_.find(name);
  return i == services_.end() ? service_health::unhealthy : roll(i->second);
}

service_health health_rollup::overall() const {
  if (services_.empty()) return service_health::healthy;
  if (unhealthy_critical_ > 0) return service_health::unhealthy;
  if (healthy_services_ == services_.size()) return service_health::healthy;
  if (unhealthy_services_ == services_.size()) return service_health::unhealthy;
  return service_health::degraded;
}

std::map<std::string, service_health> health_rollup::services() const {
  std::map<std::string, service_health> result;
  for (auto& [name, st] : services_) result.emplace(name, roll(st));
  return result;
}

std::map<health_status, uint32_t> health_rollup::counts(
    const std::string& name) const {
  std::map<health_status, uint32_t> result;
  auto i = services_.find(name);
  if (i != services_.end())
    for (size_t k = 0; k < i->second.by_status.size(); ++k)
      if (i->second.by_status[k] > 0)
        result[static_cast<health_status>(k)] = i->second.by_status[k];
  return result;
}

}  // namespace valmesh
