#include "runtime/mesh/circuit_breaker.hpp"

namespace valmesh {

std::string_view to_string(breaker_state x) noexcept {
  switch (x) {
    case breaker_state::closed:
      return "closed";
    case breaker_state::open:
      return "open";
    case breaker_state::half_open:
      return "half_open";
  }
  return "closed";
}

circuit_breaker::circuit_breaker(breaker_options options)
    : options_(options), ring_(std::max<uint32_t>(options.window_size, 1), 0) {}

breaker_state circuit_breaker::state(clock::time_point now) const {
  if (state_ == breaker_state::open && now >= open_until_)
    return breaker_state::half_open;
  return state_;
}

std::optional<circuit_breaker::transition> circuit_breaker::take_transition() {
  auto t = pending_transition_;
  pending_transition_.reset();
  return t;
}

std::optional<double> circuit_breaker::failure_rate() const {
  if (ring_count_ < options_.minimum_calls || ring_count_ == 0)
    return std::nullopt;
  return 100.0 * failures_ / ring_count_;
}

void circuit_breaker::reset_window() {
  std::fill(ring_.begin(), ring_.end(), 0);
  ring_pos_ = 0;
  ring_count_ = failures_ = slow_ = 0;
  trial_permits_ = trial_results_ = trial_failures_ = 0;
}

std::optional<circuit_breaker::transition> circuit_breaker::move_to(
    breaker_state s, clock::time_point now) {
  if (s == state_) return std::nullopt;
  transition t{state_, s};
  state_ = s;
  reset_window();
  if (s == breaker_state::open) open_until_ = now + options_.open_duration;
  return t;
}

bool circuit_breaker::try_acquire(clock::time_point now) {
  switch (state_) {
    case breaker_state::closed:
      return true;
    case breaker_state::open:
      if (now < open_until_) return false;
      pending_transition_ = move_to(breaker_state::half_open, now);
      [[fallthrough]];
    case breaker_state::half_open:
      if (trial_permits_ >= options_.half_open_calls) return false;
      ++trial_permits_;
      return true;
  }
  return false;
}

std::optional<circuit_breaker::transition> circuit_breaker::advance(
    clock::time_point now) {
  if (now < open_until_) return std::nullopt;
  return half_open_now(now);
}

std::optional<circuit_breaker::transition> circuit_breaker::half_open_now(
    clock::time_point now) {
  if (state_ != breaker_state::open) return std::nullopt;
  return move_to(breaker_state::half_open, now);
}

void circuit_breaker::on_cancel() {
  if (state_ == breaker_state::half_open && trial_permits_ > trial_results_)
    --trial_permits_;
}

std::optional<circuit_breaker::transition> circuit_breaker::on_success(
    clock::duration took, clock::time_point now) {
  return record(false, took, now);
}

std::optional<circuit_breaker::transition> circuit_breaker::on_failure(
    clock::duration took, clock::time_point now) {
  return record(true, took, now);
}

std::optional<circuit_breaker::transition> circuit_breaker::record(
    bool failed, clock::duration took, clock::time_point now) {
  bool slow =
      options_.slow_call_threshold && took > *options_.slow_call_threshold;
  switch (state_) {
    case breaker_state::open:
      return std::nullopt;  // a straggler from before it opened
    case breaker_state::half_open: {
      ++trial_results_;
      if (failed || slow) ++trial_failures_;
      if (trial_results_ < options_.half_open_calls) return std::nullopt;
      auto rate = 100.0 * trial_failures_ / trial_results_;
      return move_to(rate >= options_.failure_rate_threshold
                         ? breaker_state::open
                         : breaker_state::closed,
                     now);
    }
    case breaker_state::closed: {
      auto& slot = ring_[ring_pos_];
      if (ring_count_ == ring_.size()) {  // the oldest leaves the window
        failures_ -= slot & 1u;
        slow_ -= (slot >> 1) & 1u;
      } else {
        ++ring_count_;
      }
      slot = static_cast<uint8_t>((failed ? 1u : 0u) | (slow ? 2u : 0u));
      failures_ += failed ? 1 : 0;
      slow_ += slow ? 1 : 0;
      ring_pos_ = (ring_pos_ + 1) % ring_.size();
      if (ring_count_ < options_.minimum_calls) return std::nullopt;
      auto failure_rate = 100.0 * failures_ / ring_count_;
      auto slow_rate = 100.0 * slow_ / ring_count_;
      if (failure_rate >= options_.failure_rate_threshold ||
          (options_.slow_call_threshold &&
           slow_rate >= options_.slow_call_rate_threshold))
        return move_to(breaker_state::open, now);
      return std::nullopt;
    }
  }
  return std::nullopt;
}

}  // namespace valmesh
