#include "runtime/mesh/mesh_policy.hpp"

#include <charconv>

#include "runtime/config/config_read.hpp"

namespace valmesh {

namespace {

using namespace config_read;

std::optional<failure> read_percent(const json& v, const std::string& key,
                                    double& out) {
  if (!v.is_number() || v.get<double>() <= 0 || v.get<double>() > 100)
    return bad(key, "must be a number in (0, 100]");
  out = v.get<double>();
  return std::nullopt;
}

std::optional<failure> read_budget(const json& v, const std::string& key,
                                   call_policy& p) {
  if (!v.is_object()) return bad(key, "must be an object");
  for (auto& [k, x] : v.items()) {
    auto sub = key + "." + k;
    std::optional<failure> e;
    if (k == "ratio") {
      if (!x.is_number() || x.get<double>() < 0 || x.get<double>() > 1)
        return bad(sub, "must be a number in [0, 1]");
      p.retry_budget_ratio = x.get<double>();
    } else if (k == "minPerSecond") {
      e = read_uint(x, sub, 0, 1000000, p.retry_budget_min_per_second);
    } else {
      e = bad(sub, "unknown key");
    }
    if (e) return e;
  }
  return std::nullopt;
}

/// Reads one policy object over `p` (which holds the defaults).
std::optional<failure> read_policy(const json& v, const std::string& base,
                                   call_policy& p) {
  if (!v.is_object()) return bad(base, "must be an object");
  for (auto& [k, x] : v.items()) {
    auto key = base + "." + k;
    std::optional<failure> e;
    std::chrono::milliseconds d{};
    std::string text;
    if (k == "timeout") {
      e = read_duration(x, key, p.timeout);
      if (!e && p.timeout.count() <= 0) e = bad(key, "must be longer than 0ms");
    } else if (k == "perTryTimeout") {
      e = read_duration(x, key, d);
      if (!e && d.count() <= 0) e = bad(key, "must be longer than 0ms");
      p.per_try_timeout = d;
    } else if (k == "retries") {
      e = read_uint(x, key, 0, 10, p.retries);
    } else if (k == "backoff") {
      e = read_string(x, key, text);
      auto b = parse_backoff(text);
      if (!e && !b) e = bad(key, "must be fixed, linear or exponential");
      if (b) p.backoff.kind = *b;
    } else if (k == "retryDelay") {
      e = read_duration(x, key, d);
      p.backoff.base = d;
    } else if (k == "maxDelay") {
      e = read_duration(x, key, d);
      p.backoff.max = d;
    } else if (k == "jitter") {
      e = read_string(x, key, text);
      auto j = parse_jitter(text);
      if (!e && !j) e = bad(key, "must be none, full, equal or decorrelated");
      if (j) p.backoff.jitter = *j;
    } else if (k == "retryNonIdempotent") {
      e = read_bool(x, key, p.retry_non_idempotent);
    } else if (k == "retryBudget") {
      e = read_budget(x, key, p);
    } else if (k == "failureRateThreshold") {
      e = read_percent(x, key, p.breaker.failure_rate_threshold);
    } else if (k == "slowCallRateThreshold") {
      e = read_percent(x, key, p.breaker.slow_call_rate_threshold);
    } else if (k == "slowCallThreshold") {
      e = read_duration(x, key, d);
      p.breaker.slow_call_threshold = d;
    } else if (k == "windowSize") {
      e = read_uint(x, key, 1, 10000, p.breaker.window_size);
    } else if (k == "minimumCalls") {
      e = read_uint(x, key, 1, 10000, p.breaker.minimum_calls);
    } else if (k == "openDuration") {
      e = read_duration(x, key, d);
      if (!e && d.count() <= 0) e = bad(key, "must be longer than 0ms");
      p.breaker.open_duration = d;
    } else if (k == "halfOpenCalls") {
      e = read_uint(x, key, 1, 1000, p.breaker.half_open_calls);
    } else if (k == "maxConcurrent") {
      e = read_uint(x, key, 1, 100000, p.bulkhead.max_concurrent);
    } else if (k == "maxQueue") {
      e = read_uint(x, key, 0, 100000, p.bulkhead.max_queue);
    } else if (k == "queueTimeout") {
      e = read_duration(x, key, d);
      p.bulkhead.queue_timeout = d;
    } else if (k == "strategy") {
      e = read_string(x, key, text);
      auto s = parse_strategy(text);
      if (!e && !s)
        e = bad(key,
                "must be round-robin, random, least-connections or weighted");
      if (s) p.strategy = *s;
    } else {
      e = bad(key, "unknown key");
    }
    if (e) return e;
  }
  if (p.backoff.max < p.backoff.base)
    return bad(base + ".maxDelay", "must not be shorter than retryDelay");
  if (p.breaker.minimum_calls > p.breaker.window_size)
    return bad(base + ".minimumCalls", "must not exceed windowSize");
  return std::nullopt;
}

template <class T>
std::optional<T> parse_number(std::string_view text) {
  T n{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || end != text.data() + text.size()) return {};
  return n;
}

}  // namespace

std::optional<failure> read_policies(const json& j, mesh_policies& out) {
  if (!j.is_object()) return bad("policies", "must be an object");
  mesh_policies result;
  if (auto i = j.find("*"); i != j.end())
    if (auto e = read_policy(*i, "policies.*", result.defaults)) return e;
  for (auto& [name, v] : j.items()) {
    if (name == "*") continue;
    auto p = result.defaults;
    if (auto e = read_policy(v, "policies." + name, p)) return e;
    result.services.emplace(name, p);
  }
  out = std::move(result);
  return std::nullopt;
}

expected<call_overrides> parse_overrides(std::string_view timeout_ms,
                                         std::string_view retries) {
  call_overrides o;
  if (!timeout_ms.empty()) {
    auto n = parse_number<uint32_t>(timeout_ms);
    if (!n || *n < 1 || *n > 300000)
      return failure{errc::invalid_argument,
                     "X-Valmesh-Timeout-Ms must be a whole number of "
                     "milliseconds in 1..300000"};
    o.timeout = std::chrono::milliseconds{*n};
  }
  if (!retries.empty()) {
    auto n = parse_number<uint32_t>(retries);
    if (!n || *n > 10)
      return failure{errc::invalid_argument,
                     "X-Valmesh-Retries must be a whole number in 0..10"};
    o.retries = *n;
  }
  return o;
}

std::optional<failure> validate_overrides(const call_overrides& o) {
  if (o.timeout && (o.timeout->count() < 1 || o.timeout->count() > 300000))
    return failure{errc::invalid_argument,
                   "the timeout must be between 1ms and 300s"};
  if (o.retries && *o.retries > 10)
    return failure{errc::invalid_argument, "retries must be in 0..10"};
  return std::nullopt;
}

call_policy with_overrides(call_policy p, const call_overrides& o) {
  if (o.timeout) {
    p.timeout = *o.timeout;
    if (p.per_try_timeout && *p.per_try_timeout > p.timeout)
      p.per_try_timeout = p.timeout;
  }
  if (o.retries) p.retries = *o.retries;
  return p;
}

std::optional<std::chrono::nanoseconds> attempt_budget(
    clock::time_point now, clock::time_point deadline,
    clock::duration per_try) {
  if (now >= deadline) return std::nullopt;
  return std::min<std::chrono::nanoseconds>(per_try, deadline - now);
}

bool method_may_retry(const call_policy& p, bool idempotent,
                      bool nothing_sent) noexcept {
  return idempotent || nothing_sent || p.retry_non_idempotent;
}

retry_options retry_options_for(const call_policy& p) {
  retry_options o;
  o.max_retries = p.retries;
  o.backoff = p.backoff;
  o.timeout = p.timeout;
  return o;
}

}  // namespace valmesh
