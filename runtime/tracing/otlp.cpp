#include "runtime/tracing/otlp.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace valmesh {

namespace {

using json = nlohmann::json;

/// OTLP's SpanKind: UNSPECIFIED 0, INTERNAL 1, SERVER 2, CLIENT 3,
/// PRODUCER 4, CONSUMER 5.
int otlp_kind(span_kind k) {
  return static_cast<int>(k) + 1;
}

/// OTLP's Status.code: UNSET 0, OK 1, ERROR 2.
int otlp_status(status_code c) {
  return static_cast<int>(c);
}

json any_value(const attribute_value& v) {
  struct visitor {
    json operator()(const std::string& s) const { return {{"stringValue", s}}; }
    // int64 maps to a JSON string in protobuf's JSON mapping.
    json operator()(int64_t x) const {
      return {{"intValue", std::to_string(x)}};
    }
    json operator()(double x) const { return {{"doubleValue", x}}; }
    json operator()(bool x) const { return {{"boolValue", x}}; }
  };
  return std::visit(visitor{}, v);
}

json key_values(const attribute_list& xs) {
  auto arr = json::array();
  for (auto& a : xs)
    arr.push_back({{"key", a.key.name()}, {"value", any_value(a.value)}});
  return arr;
}

json otlp_span(const span_data& s) {
  auto events = json::array();
  for (auto& e : s.events)
    events.push_back({{"timeUnixNano", std::to_string(e.time_unix_nano)},
                      {"name", e.name},
                      {"attributes", key_values(e.attributes)}});
  json status = {{"code", otlp_status(s.status)}};
  if (!s.status_message.empty()) status["message"] = s.status_message;
  json j = {{"traceId", s.trace.to_hex()},
            {"spanId", s.span.to_hex()},
            {"name", s.name},
            {"kind", otlp_kind(s.kind)},
            {"startTimeUnixNano", std::to_string(s.start_unix_nano)},
            {"endTimeUnixNano", std::to_string(s.end_unix_nano)},
            {"attributes", key_values(s.attributes)},
            {"events", std::move(events)},
            {"status", std::move(status)}};
  if (s.parent.valid()) j["parentSpanId"] = s.parent.to_hex();
  if (!s.trace_state.empty()) j["traceState"] = s.trace_state;
  return j;
}

}  // namespace

std::string encode_otlp_json(const std::vector<span_data>& spans,
                             const otlp_resource& resource) {
  attribute_list res{{"service.name", resource.service_name}};
  if (!resource.instance_id.empty())
    res.push_back({"service.instance.id", resource.instance_id});
  if (!resource.version.empty())
    res.push_back({"service.version", resource.version});
  auto arr = json::array();
  for (auto& s : spans) arr.push_back(otlp_span(s));
  json scope = {{"name", "valmesh"}};
  if (!resource.version.empty()) scope["version"] = resource.version;
  json body = {{"resourceSpans",
                json::array({{{"resource", {{"attributes", key_values(res)}}},
                              {"scopeSpans",
                               json::array({{{"scope", std::move(scope)},
                                             {"spans", std::move(arr)}}})}}})}};
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

// -- the export queue ---------------------------------------------------------

otlp_export_queue::otlp_export_queue(otlp_export_options opts) : opts_(opts) {
  opts_.batch_size = std::max<size_t>(opts_.batch_size, 1);
  opts_.queue_size = std::max(opts_.queue_size, opts_.batch_size);
}

void otlp_export_queue::add(std::vector<span_data> spans,
                            clock::time_point now) {
  if (spans.empty()) return;
  if (waiting_.empty()) oldest_ = now;
  for (auto& s : spans) waiting_.push_back(std::move(s));
  while (!waiting_.empty() &&
         waiting_.size() + batch_.size() > opts_.queue_size) {
    waiting_.pop_front();
    ++stats_.dropped;
  }
  stats_.queued = waiting_.size() + batch_.size();
}

std::optional<std::vector<span_data>> otlp_export_queue::next(
    clock::time_point now) {
  if (in_flight_) return std::nullopt;
  if (!batch_.empty()) {  // a failed batch waits for its backoff
    if (retry_at_ && now < *retry_at_) return std::nullopt;
    in_flight_ = true;
    return batch_;
  }
  if (waiting_.empty()) return std::nullopt;
  if (!flushing_ && waiting_.size() < opts_.batch_size && oldest_ &&
      now - *oldest_ < opts_.interval)
    return std::nullopt;
  auto n = std::min(opts_.batch_size, waiting_.size());
  batch_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    batch_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  // What remains waits from now on (a full batch of it goes at once).
  oldest_ = waiting_.empty() ? std::nullopt : std::optional{now};
  if (waiting_.empty()) flushing_ = false;
  attempt_ = 0;
  retry_at_.reset();
  in_flight_ = true;
  return batch_;
}

void otlp_export_queue::on_sent(bool ok, bool retryable, std::string error,
                                clock::time_point now) {
  in_flight_ = false;
  if (ok) {
    stats_.exported += batch_.size();
    ++stats_.batches;
    batch_.clear();
    attempt_ = 0;
  } else {
    stats_.last_error = std::move(error);
    if (!retryable || attempt_ >= opts_.max_retries) {
      ++stats_.failed_batches;
      stats_.failed_spans += batch_.size();
      batch_.clear();
      attempt_ = 0;
    } else {
      ++attempt_;
      ++stats_.retries;
      auto delay = opts_.retry_delay;
      for (uint32_t i = 1; i < attempt_ && delay < opts_.max_delay; ++i)
        delay *= 2;
      retry_at_ = now + std::min(delay, opts_.max_delay);
    }
  }
  stats_.queued = waiting_.size() + batch_.size();
}

std::optional<clock::time_point> otlp_export_queue::wake_at() const {
  if (in_flight_) return std::nullopt;
  if (!batch_.empty()) return retry_at_;
  if (waiting_.empty() || !oldest_) return std::nullopt;
  if (flushing_ || waiting_.size() >= opts_.batch_size) return *oldest_;
  return *oldest_ + opts_.interval;
}

}  // namespace valmesh
