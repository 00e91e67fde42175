#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "runtime/mesh/bulkhead.hpp"
#include "runtime/mesh/circuit_breaker.hpp"
#include "runtime/common/clock.hpp"
#include "runtime/common/error.hpp"
#include "runtime/registry/load_balancer.hpp"
#include "runtime/mesh/retry.hpp"

namespace valmesh {

/// How the mesh calls one service (config `policies.<service>`; README.md,
/// "The mesh", has the same table).
///
/// | key (JSON)               | default     | meaning                                                     |
/// |--------------------------|-------------|-------------------------------------------------------------|
/// | timeout                  | 5s          | overall deadline, all attempts and waits                    |
/// | perTryTimeout            | none        | one attempt's limit inside the deadline (none: the timeout) |
/// | retries                  | 3           | further attempts after the first (0..10)                    |
/// | backoff                  | exponential | fixed, linear, exponential                                  |
/// | retryDelay               | 100ms       | base wait                                                   |
/// | maxDelay                 | 2s          | no wait is longer                                           |
/// | jitter                   | full        | none, full, equal, decorrelated                             |
/// | retryNonIdempotent       | false       | also retry POST, PATCH, ...                                 |
/// | retryBudget.ratio        | 0.2         | retries at most this share of requests (Envoy's budget)     |
/// | retryBudget.minPerSecond | 10          | retries per second always allowed                           |
/// | failureRateThreshold     | 50          | % failed in the window opens the breaker                    |
/// | slowCallThreshold        | none        | a call slower than this is slow (none: no call is)          |
/// | slowCallRateThreshold    | 100         | % slow in the window opens the breaker                      |
/// | windowSize               | 20          | the breaker judges the last N calls                         |
/// | minimumCalls             | 10          | no judgement before N calls                                 |
/// | openDuration             | 30s         | open this long, then half-open                              |
/// | halfOpenCalls            | 3           | trial calls when half-open                                  |
/// | maxConcurrent            | 64          | the bulkhead's permits                                      |
/// | maxQueue                 | 128         | calls waiting for a permit                                  |
/// | queueTimeout             | 1s          | a waiting call gives up after this                          |
/// | strategy                 | round-robin | instance choice                                             |
struct call_policy {
  std::chrono::milliseconds timeout{std::chrono::seconds{5}};
  std::optional<std::chrono::milliseconds> per_try_timeout;
  uint32_t retries = 3;
  backoff_policy backoff;
  bool retry_non_idempotent = false;
  double retry_budget_ratio = 0.2;
  uint32_t retry_budget_min_per_second = 10;
  breaker_options breaker;
  bulkhead_options bulkhead;
  lb_strategy strategy = lb_strategy::round_robin;

  /// The per-try timeout in effect.
  std::chrono::milliseconds try_timeout() const {
    return per_try_timeout ? std::min(*per_try_timeout, timeout) : timeout;
  }
};

/// The policies of every service: `policies."*"` gives the defaults, and
/// `policies.<service>` overrides them key by key.
struct mesh_policies {
  call_policy defaults;
  std::map<std::string, call_policy> services;

  /// The policy of `service`.
  const call_policy& of(const std::string& service) const {
    auto i = services.find(service);
    return i == services.end() ? defaults : i->second;
  }
};

/// Reads the config key `policies`. Unknown keys and bad values name the
/// key (`policies.orders.retries: ...`).
std::optional<failure> read_policies(const nlohmann::json& j,
                                     mesh_policies& out);

/// Per-call changes to a service's policy (headers `X-Valmesh-Timeout-Ms`,
/// `X-Valmesh-Retries`, or the fields of `POST /api/call`).
struct call_overrides {
  std::optional<std::chrono::milliseconds> timeout;  ///< 1ms..300s
  std::optional<uint32_t> retries;                   ///< 0..10
};

/// Reads the two headers (empty: absent). A bad value is a 400 that names
/// the header.
expected<call_overrides> parse_overrides(std::string_view timeout_ms,
                                         std::string_view retries);

/// Checks overrides from any source against the same ranges.
std::optional<failure> validate_overrides(const call_overrides& o);

/// `p` with `o` applied; a shorter timeout also bounds each try.
call_policy with_overrides(call_policy p, const call_overrides& o);

// -- the rules of one call ----------------------------------------------------

/// Whether an upstream answer with `status` counts as a failure for the
/// breaker (any 5xx, as Envoy's outlier detection counts them).
constexpr bool is_failure_status(unsigned status) noexcept {
  return status >= 500 && status <= 599;
}

/// Whether an upstream answer with `status` is retried: 502, 503, 504.
constexpr bool is_retryable_status(unsigned status) noexcept {
  return status == 502 || status == 503 || status == 504;
}

/// The time one attempt may take: the per-try timeout, cut to what is left
/// of the overall deadline. Nothing when the deadline has passed.
std::optional<std::chrono::nanoseconds> attempt_budget(
    clock::time_point now, clock::time_point deadline, clock::duration per_try);

/// Whether the method allows another attempt: idempotent ones always, any
/// after `nothing_sent` (a connect failure), others only with
/// `retryNonIdempotent`.
bool method_may_retry(const call_policy& p, bool idempotent,
                      bool nothing_sent) noexcept;

/// The retry utility's options for a call under `p`: its retries, backoff
/// and overall deadline (the caller adds the `retryable` predicate, which
/// knows the attempt's failure).
retry_options retry_options_for(const call_policy& p);

}  // namespace valmesh
