#pragma once

// Head sampling: whether a new span is recorded. The decision on a
// root span depends on its trace id only, so every node that sees the trace
// decides the same way.

#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/common/error.hpp"
#include "runtime/tracing/trace_context.hpp"

namespace valmesh {

/// A sampler, as the config's `tracing.sampler` names it:
///
/// | name              | decision |
/// |-------------------|-------------------------------------------------|
/// | `always`          | every span is recorded |
/// | `never`           | no span is recorded (contexts still propagate) |
/// | `ratio:P`         | a share P in [0, 1] of traces, by trace id |
/// | `parent-based`    | the parent's `sampled` flag; roots: ratio 1.0 |
/// | `parent-based:P`  | the same, roots sampled with ratio P |
///
/// Ratio decisions follow OpenTelemetry's TraceIdRatioBased: the last 8
/// bytes of the trace id, as an unsigned number, are below P × 2^64.
class sampler {
 public:
  enum class kind : uint8_t { always, never, ratio, parent_based };

  /// The default: parent-based over ratio 1.0.
  sampler() = default;

  static sampler always() { return sampler{kind::always, 1.0}; }
  static sampler never() { return sampler{kind::never, 0.0}; }
  static sampler ratio(double p) { return sampler{kind::ratio, p}; }
  static sampler parent_based(double root_ratio = 1.0) {
    return sampler{kind::parent_based, root_ratio};
  }

  /// Parses a name of the table above.
  static expected<sampler> parse(std::string_view text);

  /// Decides for a new span of trace `trace`; `parent` is null for a root
  /// span (no valid incoming or local parent).
  bool should_sample(const span_context* parent,
                     const trace_id& trace) const noexcept {
    switch (kind_) {
      case kind::always:
        return true;
      case kind::never:
        return false;
      case kind::ratio:
        return by_ratio(trace);
      case kind::parent_based:
        return parent != nullptr ? parent->sampled() : by_ratio(trace);
    }
    return false;
  }

  kind which() const noexcept { return kind_; }
  double probability() const noexcept { return ratio_; }

  /// Returns the name this sampler parses from.
  std::string to_string() const;

 private:
  sampler(kind k, double p);

  bool by_ratio(const trace_id& t) const noexcept {
    return all_ || t.lo < threshold_;
  }

  kind kind_ = kind::parent_based;
  double ratio_ = 1.0;
  bool all_ = true;         ///< P is 1: every id passes
  uint64_t threshold_ = 0;  ///< P × 2^64 when P < 1
};

}  // namespace valmesh
