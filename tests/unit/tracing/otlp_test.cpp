// OTLP/HTTP JSON: the encoding of a batch (shape, enums, 64-bit numbers as
// strings, attribute values), the export queue's batching by size and by
// time, its bound, and retries with backoff on a manual clock.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "runtime/tracing/otlp.hpp"
#include "runtime/tracing/tracing_config.hpp"

using namespace valmesh;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

span_data make(uint64_t n) {
  span_data s;
  s.trace = *trace_id::from_hex("4bf92f3577b34da6a3ce929d0e0e4736");
  s.span = span_id{n};
  s.name = "s" + std::to_string(n);
  return s;
}

std::vector<span_data> many(size_t n, uint64_t first = 1) {
  std::vector<span_data> xs;
  for (size_t i = 0; i < n; ++i) xs.push_back(make(first + i));
  return xs;
}

}  // namespace

TEST(otlp_json, encodes_resource_scope_and_spans) {
  span_data s = make(0x00f067aa0ba902b7);
  s.parent = span_id{0x1122334455667788};
  s.kind = span_kind::client;
  s.start_unix_nano = 1'700'000'000'123'456'789;
  s.end_unix_nano = 1'700'000'000'223'456'789;
  s.attributes = {{"http.request.method", std::string{"GET"}},
                  {"valmesh.attempt", int64_t{2}},
                  {"ratio", 0.5},
                  {"ok", true}};
  s.events.push_back({"retry", 1'700'000'000'200'000'000, {}});
  s.status = status_code::error;
  s.status_message = "HTTP 503";
  auto j = json::parse(encode_otlp_json({s}, {"valmesh", "node-a", "0.1.0"}));
  auto& rs = j["resourceSpans"].at(0);
  auto& res = rs["resource"]["attributes"];
  EXPECT_EQ(res.at(0)["key"], "service.name");
  EXPECT_EQ(res.at(0)["value"]["stringValue"], "valmesh");
  EXPECT_EQ(res.at(1)["value"]["stringValue"], "node-a");
  auto& scope = rs["scopeSpans"].at(0);
  EXPECT_EQ(scope["scope"]["name"], "valmesh");
  auto& x = scope["spans"].at(0);
  EXPECT_EQ(x["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(x["spanId"], "00f067aa0ba902b7");
  EXPECT_EQ(x["parentSpanId"], "1122334455667788");
  EXPECT_EQ(x["kind"], 3);  // SPAN_KIND_CLIENT
  EXPECT_EQ(x["startTimeUnixNano"], "1700000000123456789");
  EXPECT_EQ(x["endTimeUnixNano"], "1700000000223456789");
  EXPECT_EQ(x["status"]["code"], 2);  // STATUS_CODE_ERROR
  EXPECT_EQ(x["status"]["message"], "HTTP 503");
  auto& a = x["attributes"];
  EXPECT_EQ(a.at(0)["value"]["stringValue"], "GET");
  EXPECT_EQ(a.at(1)["value"]["intValue"], "2");
  EXPECT_EQ(a.at(2)["value"]["doubleValue"], 0.5);
  EXPECT_EQ(a.at(3)["value"]["boolValue"], true);
  EXPECT_EQ(x["events"].at(0)["timeUnixNano"], "1700000000200000000");
}

TEST(otlp_json, a_root_span_has_no_parent_and_server_is_2) {
  auto s = make(1);
  s.kind = span_kind::server;
  auto j = json::parse(encode_otlp_json({s}, {}));
  auto& x = j["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
  EXPECT_FALSE(x.contains("parentSpanId"));
  EXPECT_EQ(x["kind"], 2);
  EXPECT_EQ(x["status"]["code"], 0);
}

TEST(otlp_queue, a_full_batch_goes_at_once_a_partial_one_after_the_interval) {
  manual_clock time;
  otlp_export_options o;
  o.batch_size = 4;
  o.interval = 5s;
  otlp_export_queue q{o};
  q.add(many(3), time.now());
  EXPECT_FALSE(q.next(time.now()));
  EXPECT_EQ(*q.wake_at(), time.now() + 5s);
  q.add(many(2, 10), time.now());
  auto b = q.next(time.now());
  ASSERT_TRUE(b);
  EXPECT_EQ(b->size(), 4u);
  EXPECT_FALSE(q.next(time.now()));  // one in flight at a time
  q.on_sent(true, false, {}, time.now());
  EXPECT_EQ(q.stats().exported, 4u);
  EXPECT_FALSE(q.next(time.now()));  // the fifth waits
  time.advance(5s);
  auto rest = q.next(time.now());
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest->size(), 1u);
  q.on_sent(true, false, {}, time.now());
  EXPECT_EQ(q.stats().exported, 5u);
  EXPECT_EQ(q.stats().batches, 2u);
  EXPECT_EQ(q.stats().queued, 0u);
  EXPECT_FALSE(q.wake_at());
}

TEST(otlp_queue, the_queue_is_bounded_and_drops_the_oldest) {
  manual_clock time;
  otlp_export_options o;
  o.batch_size = 2;
  o.queue_size = 4;
  otlp_export_queue q{o};
  q.add(many(10), time.now());
  EXPECT_EQ(q.stats().dropped, 6u);
  EXPECT_EQ(q.stats().queued, 4u);
  auto b = q.next(time.now());
  ASSERT_TRUE(b);
  EXPECT_EQ((*b)[0].span.value, 7u);  // 1..6 went
}

TEST(otlp_queue, failures_retry_with_growing_backoff_then_give_up) {
  manual_clock time;
  otlp_export_options o;
  o.batch_size = 1;
  o.max_retries = 2;
  o.retry_delay = 100ms;
  otlp_export_queue q{o};
  q.add(many(1), time.now());
  ASSERT_TRUE(q.next(time.now()));
  q.on_sent(false, true, "refused", time.now());
  EXPECT_EQ(q.stats().retries, 1u);
  EXPECT_EQ(q.stats().last_error, "refused");
  EXPECT_FALSE(q.next(time.now()));
  EXPECT_EQ(*q.wake_at(), time.now() + 100ms);
  time.advance(100ms);
  ASSERT_TRUE(q.next(time.now()));
  q.on_sent(false, true, "refused", time.now());
  EXPECT_EQ(*q.wake_at(), time.now() + 200ms);  // doubled
  time.advance(200ms);
  ASSERT_TRUE(q.next(time.now()));
  q.on_sent(false, true, "refused", time.now());  // retries exhausted
  EXPECT_EQ(q.stats().failed_batches, 1u);
  EXPECT_EQ(q.stats().failed_spans, 1u);
  EXPECT_EQ(q.stats().queued, 0u);
  EXPECT_FALSE(q.next(time.now()));
}

TEST(otlp_queue, a_non_retryable_failure_drops_the_batch_at_once) {
  manual_clock time;
  otlp_export_options o;
  o.batch_size = 1;
  otlp_export_queue q{o};
  q.add(many(2), time.now());
  ASSERT_TRUE(q.next(time.now()));
  q.on_sent(false, false, "400", time.now());
  EXPECT_EQ(q.stats().retries, 0u);
  EXPECT_EQ(q.stats().failed_batches, 1u);
  auto b = q.next(time.now());
  ASSERT_TRUE(b);
  EXPECT_EQ((*b)[0].span.value, 2u);
}

TEST(otlp_queue, a_flush_sends_partial_batches_at_once_until_empty) {
  manual_clock time;
  otlp_export_options o;
  o.batch_size = 4;
  o.interval = 1h;
  otlp_export_queue q{o};
  q.add(many(6), time.now());
  auto full = q.next(time.now());
  ASSERT_TRUE(full);
  q.on_sent(true, false, {}, time.now());
  EXPECT_FALSE(q.next(time.now()));  // two wait for the hour
  EXPECT_FALSE(q.idle());
  q.flush();
  EXPECT_EQ(*q.wake_at(), time.now());
  auto rest = q.next(time.now());
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest->size(), 2u);
  EXPECT_FALSE(q.idle());  // in flight
  q.on_sent(true, false, {}, time.now());
  EXPECT_TRUE(q.idle());
  EXPECT_EQ(q.stats().exported, 6u);
  // The flush is over: what comes later batches as usual again.
  q.add(many(1, 20), time.now());
  EXPECT_FALSE(q.next(time.now()));
  EXPECT_EQ(*q.wake_at(), time.now() + 1h);
}

TEST(otlp_queue, a_flush_keeps_the_retry_backoff) {
  manual_clock time;
  otlp_export_options o;
  o.batch_size = 4;
  o.interval = 1h;
  o.retry_delay = 100ms;
  otlp_export_queue q{o};
  q.add(many(1), time.now());
  q.flush();
  ASSERT_TRUE(q.next(time.now()));
  q.on_sent(false, true, "refused", time.now());
  q.flush();
  EXPECT_FALSE(q.next(time.now()));
  EXPECT_EQ(*q.wake_at(), time.now() + 100ms);
  time.advance(100ms);
  ASSERT_TRUE(q.next(time.now()));
  q.on_sent(true, false, {}, time.now());
  EXPECT_TRUE(q.idle());
}

TEST(otlp_endpoint, parses_http_urls) {
  auto t = parse_otlp_endpoint("http://127.0.0.1:4318/v1/traces");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->port, 4318);
  EXPECT_EQ(t->path, "/v1/traces");
  auto d = parse_otlp_endpoint("http://collector");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->port, 80);
  EXPECT_EQ(d->path, "/v1/traces");
  auto v6 = parse_otlp_endpoint("http://[::1]:4318/x");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  for (auto bad :
       {"https://c:4318/v1/traces", "c:4318", "http://", "http://:1/",
        "http://c:0/", "http://c:99999/", "http://c:x/"})
    EXPECT_FALSE(parse_otlp_endpoint(bad)) << bad;
}
