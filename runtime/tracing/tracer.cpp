#include "runtime/tracing/tracer.hpp"

#include <strings.h>

namespace valmesh {

namespace {

thread_local const span* current_scoped = nullptr;

bool iequal(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

// -- span ---------------------------------------------------------------------

span::span(span&& other) noexcept
    : tracer_(std::exchange(other.tracer_, nullptr)),
      ctx_(other.ctx_),
      state_(std::move(other.state_)),
      data_(std::move(other.data_)),
      start_(other.start_) {
  other.data_.reset();
}

span& span::operator=(span&& other) noexcept {
  if (this != &other) {
    end();
    tracer_ = std::exchange(other.tracer_, nullptr);
    ctx_ = other.ctx_;
    state_ = std::move(other.state_);
    data_ = std::move(other.data_);
    other.data_.reset();
    start_ = other.start_;
  }
  return *this;
}

span& span::add_event(std::string_view name, const attribute_list& attributes) {
  if (data_ && tracer_)
    data_->add_event(name, tracer_->unix_nano(tracer_->time().now()),
                     attributes);
  return *this;
}

void span::finish(std::string_view outcome, std::string_view error) {
  if (outcome == "success" || outcome == "ok")
    set_status(status_code::ok);
  else
    set_status(status_code::error, error.empty() ? outcome : error);
  end();
}

void span::end() noexcept {
  auto* t = std::exchange(tracer_, nullptr);
  if (!t || !data_) return;
  auto& d = *data_;
  d.set_end(t->unix_nano(t->time().now()));
  d.set_trace_state(state_);
  t->record(std::move(d));
  data_.reset();
}

// -- scoped_span --------------------------------------------------------------

scoped_span::scoped_span(span s)
    : span_(std::move(s)), previous_(current_scoped) {
  current_scoped = &span_;
}

scoped_span::~scoped_span() {
  current_scoped = previous_;
  span_.end();
}

const span* scoped_span::current() noexcept {
  return current_scoped;
}

// -- tracer -------------------------------------------------------------------

tracer::tracer(sampler s, std::shared_ptr<const clock> time,
               std::shared_ptr<span_sink> sink)
    : sampler_(s), time_(std::move(time)), sink_(std::move(sink)) {
  anchor_ns_ =
      time_->unix_ms() * 1'000'000 - time_->now().time_since_epoch().count();
}

span tracer::start_span(std::string_view name, span_kind kind,
                        const span_context* parent,
                        std::string_view trace_state) {
  span s;
  s.tracer_ = this;
  if (parent && !parent->valid()) parent = nullptr;
  s.ctx_.trace = parent ? parent->trace : random_trace_id();
  s.ctx_.span = random_span_id();
  started_.fetch_add(1, std::memory_order_relaxed);
  if (!sampler_.should_sample(parent, s.ctx_.trace)) {
    s.ctx_.flags = 0;
    if (!trace_state.empty()) s.state_.assign(trace_state);
    return s;
  }
  sampled_.fetch_add(1, std::memory_order_relaxed);
  s.ctx_.flags = trace_flag_sampled;
  if (!trace_state.empty()) s.state_.assign(trace_state);
  s.start_ = time_->now();
  auto& d = s.data_.emplace(sink_->fresh());
  d.reset(s.ctx_.trace, s.ctx_.span, parent ? parent->span : span_id{}, kind,
          unix_nano(s.start_));
  if (!name.empty()) d.set_name(name);
  return s;
}

span tracer::start_span(std::string_view name, attribute_list tags,
                        span_kind kind) {
  auto* cur = scoped_span::current();
  auto s = cur && cur->context().valid()
               ? start_span(name, kind, &cur->context(), cur->trace_state())
               : start_span(name, kind, nullptr);
  if (s.data_)
    for (auto& a : tags) s.data_->set_attribute(a.key, a.value);
  return s;
}

span tracer::start_child(const span& parent, std::string_view name,
                         span_kind kind) {
  return start_span(name, kind, &parent.context(), parent.trace_state());
}

span tracer::start_from(const header_list& headers, std::string_view name,
                        span_kind kind) {
  auto remote = extract(headers);
  if (!remote) return start_span(name, kind, nullptr);
  return start_span(name, kind, &remote->parent, remote->trace_state);
}

std::optional<remote_context> tracer::extract(const header_list& headers) {
  const std::string* parent = nullptr;
  std::string state;
  bool state_seen = false;
  for (auto& [k, v] : headers) {
    if (iequal(k, "traceparent")) {
      if (parent) return std::nullopt;  // two traceparents: none is trusted
      parent = &v;
    } else if (iequal(k, "tracestate")) {
      // Several tracestate headers are one list (RFC 9110 §5.3).
      if (state_seen) state += ',';
      state += v;
      state_seen = true;
    }
  }
  if (!parent) return std::nullopt;
  auto ctx = parse_traceparent(*parent);
  if (!ctx) return std::nullopt;
  remote_context r{*ctx, {}};
  if (state_seen)
    if (auto ts = trace_state::parse(state)) r.trace_state = ts->to_string();
  return r;
}

void tracer::inject(const span& s, header_list& headers) {
  if (!s.context().valid()) return;
  std::erase_if(headers, [](auto& kv) {
    return iequal(kv.first, "traceparent") || iequal(kv.first, "tracestate");
  });
  headers.emplace_back("traceparent", format_traceparent(s.context()));
  if (!s.trace_state().empty())
    headers.emplace_back("tracestate", s.trace_state());
}

}  // namespace valmesh
