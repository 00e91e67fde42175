#pragma once

// The tracing API: spans with attributes, events and status, the
// W3C context in and out of header lists, and head sampling. The C++ form
// of the original system's `startSpan(name, {tags})`,
// `span.finish('success' | 'error', error)` and `injectContext(span,
// headers)`. Plain logic: time comes from an injected clock and finished
// spans go to a `span_sink` (in a node, batched to the tracer actor).

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "runtime/common/header_list.hpp"
#include "runtime/common/clock.hpp"
#include "runtime/tracing/packed_span.hpp"
#include "runtime/tracing/sampler.hpp"
#include "runtime/tracing/span.hpp"
#include "runtime/tracing/trace_context.hpp"

namespace valmesh {



/// Where finished, sampled spans go. Called on the thread that ends the
/// span; it must only hand the span over (queue it) and return.
class span_sink {
 public:
  virtual ~span_sink() = default;
  virtual void submit(packed_span&& s) = 0;
  /// A span to record into, called on the thread that starts a sampled
  /// span (the tracer resets it): one whose log memory is reused, if the
  /// sink has one (`span_returns`).
  virtual packed_span fresh() { return {}; }
};

/// What a tracer has started since it was made.
struct tracer_stats {
  uint64_t started = 0;  ///< every span, sampled or not
  uint64_t sampled = 0;  ///< the ones recorded
};

/// A context taken from incoming headers: the remote parent and its
/// `tracestate`.
struct remote_context {
  span_context parent;
  std::string trace_state;  ///< normalised (`key=value,...`), may be empty
};

class tracer;

/// One span. A sampled span records its name, attributes, events and status
/// and goes to the tracer's sink when it ends; an unsampled one only
/// carries its context (to propagate it) and costs neither an allocation
/// nor a clock read. Move-only; it ends when destroyed if not before (RAII).
/// A default-constructed span is a no-op with an invalid context.
class span {
 public:
  span() = default;
  span(span&& other) noexcept;
  span& operator=(span&& other) noexcept;
  span(const span&) = delete;
  span& operator=(const span&) = delete;
  ~span() { end(); }

  /// Whether this span is sampled (records anything).
  bool recording() const noexcept { return data_.has_value(); }

  /// The context to propagate: trace id, this span's id, flags.
  const span_context& context() const noexcept { return ctx_; }

  /// The `tracestate` members this span propagates (may be empty).
  const std::string& trace_state() const noexcept { return state_; }

  /// Sets (or replaces) an attribute. No-op when not recording. `key` is a
  /// `known_attribute` (one byte in the log, nothing built) or any string;
  /// `value` a string, an integer, a double or a bool.
  template <class Key, class Value>
  span& set_attribute(const Key& key, const Value& value) {
    if (!data_) return *this;
    if constexpr (std::is_same_v<Key, known_attribute> ||
                  std::is_same_v<Key, attribute_key>)
      data_->set_attribute(key, value_of(value));
    else
      data_->set_attribute(attribute_key{std::string_view{key}},
                           value_of(value));
    return *this;
  }

  /// Records an event now.
  span& add_event(std::string_view name, const attribute_list& attributes = {});

  /// Sets the status (an `error` keeps its message; `ok` and `unset` none).
  span& set_status(status_code code, std::string_view message = {}) {
    if (data_) data_->set_status(code, message);
    return *this;
  }

  /// Makes room for `n` attributes (one allocation instead of several).
  span& reserve_attributes(size_t n) {
    if (data_) data_->reserve(n * bytes_per_attribute);
    return *this;
  }

  /// About what an attribute takes in the span's log (a known key and a
  /// short string value).
  static constexpr size_t bytes_per_attribute = 24;

  /// Renames the span (e.g. once the route is known).
  span& set_name(std::string_view name) {
    if (data_) data_->set_name(name);
    return *this;
  }
  /// Names the span with the parts one after the other (nothing built when
  /// not recording, no string when recording).
  span& set_name(std::initializer_list<std::string_view> parts) {
    if (data_) data_->set_name(parts);
    return *this;
  }

  /// The original system's `span.finish('success' | 'error', error)`:
  /// status ok, or error with `error` as its message (any outcome other
  /// than "success" or "ok" is an error); then ends the span.
  void finish(std::string_view outcome = "success",
              std::string_view error = {});

  /// Ends the span now (later calls do nothing) and hands it to the sink.
  void end() noexcept;

  /// Whether `end` already ran.
  bool ended() const noexcept { return tracer_ == nullptr; }

 private:
  friend class tracer;

  template <class V>
  static auto value_of(const V& v) {
    if constexpr (std::is_same_v<V, bool>)
      return v;
    else if constexpr (std::is_integral_v<V>)
      return static_cast<int64_t>(v);
    else if constexpr (std::is_floating_point_v<V>)
      return static_cast<double>(v);
    else
      return std::string_view{v};
  }

  tracer* tracer_ = nullptr;  ///< null: ended, or a no-op span
  span_context ctx_;
  std::string state_;
  std::optional<packed_span> data_;  ///< what a sampled span records
  clock::time_point start_{};
};

/// Makes a span the current one of this thread for a scope, so that spans
/// started in it without an explicit parent are its children; ends it at
/// the end of the scope. Not movable: it is a scope.
class scoped_span {
 public:
  explicit scoped_span(span s);
  ~scoped_span();
  scoped_span(const scoped_span&) = delete;
  scoped_span& operator=(const scoped_span&) = delete;

  span& get() noexcept { return span_; }
  span* operator->() noexcept { return &span_; }
  span& operator*() noexcept { return span_; }

  /// The innermost scoped span of this thread, or null.
  static const span* current() noexcept;

 private:
  span span_;
  const span* previous_;
};

/// Starts spans, decides sampling and moves contexts in and out of headers.
/// Thread-safe: any thread may start and end spans.
class tracer {
 public:
  tracer(sampler s, std::shared_ptr<const clock> time,
         std::shared_ptr<span_sink> sink);

  /// `startSpan(name, {tags})`: a child of this thread's current scoped
  /// span, or a new root.
  span start_span(std::string_view name, attribute_list tags = {},
                  span_kind kind = span_kind::internal);

  /// Starts a span with an explicit parent: `parent` null or invalid starts
  /// a new trace; `trace_state` is propagated as is.
  span start_span(std::string_view name, span_kind kind,
                  const span_context* parent,
                  std::string_view trace_state = {});

  /// Starts a child of `parent` (a new root if `parent` has no context).
  span start_child(const span& parent, std::string_view name,
                   span_kind kind = span_kind::internal);

  /// Starts a span continuing the context in `headers` (a server span,
  /// usually); without a valid `traceparent` a new trace.
  span start_from(const header_list& headers, std::string_view name,
                  span_kind kind = span_kind::server);

  /// Reads `traceparent` and `tracestate` from `headers` (names in any
  /// case). Nothing if `traceparent` is absent or invalid; an invalid
  /// `tracestate` is dropped, the parent kept.
  static std::optional<remote_context> extract(const header_list& headers);

  /// `injectContext(span, headers)`: sets `traceparent` (and `tracestate`
  /// when the span has one) in `headers`, replacing any there. Does nothing
  /// for a span without a valid context.
  static void inject(const span& s, header_list& headers);

  tracer_stats stats() const noexcept {
    return {started_.load(std::memory_order_relaxed),
            sampled_.load(std::memory_order_relaxed)};
  }
  const sampler& sampling() const noexcept { return sampler_; }
  const clock& time() const noexcept { return *time_; }

  /// Wall-clock nanoseconds of a monotonic instant (anchored once at
  /// construction, so a span's duration never goes negative).
  int64_t unix_nano(clock::time_point t) const noexcept {
    return anchor_ns_ + t.time_since_epoch().count();
  }

 private:
  friend class span;
  void record(packed_span&& s) { sink_->submit(std::move(s)); }

  sampler sampler_;
  std::shared_ptr<const clock> time_;
  std::shared_ptr<span_sink> sink_;
  int64_t anchor_ns_ = 0;
  std::atomic<uint64_t> started_{0};
  std::atomic<uint64_t> sampled_{0};
};

}  // namespace valmesh
