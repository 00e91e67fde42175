// The tracer API on a manual clock: root and child spans, attributes,
// events, status, the RAII and scoped spans, inject and extract, and that an
// unsampled span records nothing.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "runtime/tracing/tracer.hpp"

using namespace valmesh;
using namespace std::chrono_literals;

namespace {

struct collecting_sink : span_sink {
  std::vector<span_data> spans;
  void submit(packed_span&& s) override { spans.push_back(s.unpack()); }
};

struct fixture : ::testing::Test {
  std::shared_ptr<manual_clock> time = std::make_shared<manual_clock>();
  std::shared_ptr<collecting_sink> sink = std::make_shared<collecting_sink>();
  tracer make(sampler s = sampler::always()) { return tracer{s, time, sink}; }
};

const std::string* string_attr(const span_data& s, std::string_view key) {
  auto* v = s.find(key);
  return v ? std::get_if<std::string>(v) : nullptr;
}

}  // namespace

using tracer_api = fixture;

TEST_F(tracer_api, a_root_span_records_times_attributes_and_status) {
  auto t = make();
  auto s = t.start_span("checkout", {{"user", std::string{"ann"}}});
  ASSERT_TRUE(s.recording());
  EXPECT_TRUE(s.context().valid());
  EXPECT_TRUE(s.context().sampled());
  s.set_attribute("items", 3).set_attribute("express", true);
  time->advance(2ms);
  s.add_event("paid", {{"amount", 9.5}});
  time->advance(3ms);
  s.finish("success");
  ASSERT_EQ(sink->spans.size(), 1u);
  auto& d = sink->spans[0];
  EXPECT_EQ(d.name, "checkout");
  EXPECT_EQ(d.kind, span_kind::internal);
  EXPECT_FALSE(d.parent.valid());
  EXPECT_EQ(d.trace, s.context().trace);
  EXPECT_EQ(d.end_unix_nano - d.start_unix_nano, 5'000'000);
  EXPECT_EQ(d.start_unix_nano, 1'700'000'000'000LL * 1'000'000);
  EXPECT_EQ(*string_attr(d, "user"), "ann");
  EXPECT_EQ(std::get<int64_t>(*d.find("items")), 3);
  EXPECT_EQ(std::get<bool>(*d.find("express")), true);
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0].time_unix_nano - d.start_unix_nano, 2'000'000);
  EXPECT_EQ(d.status, status_code::ok);
  // A finished span ends once.
  s.end();
  EXPECT_EQ(sink->spans.size(), 1u);
}

TEST_F(tracer_api, finish_with_error_keeps_the_message) {
  auto t = make();
  t.start_span("x").finish("error", "upstream refused");
  ASSERT_EQ(sink->spans.size(), 1u);
  EXPECT_EQ(sink->spans[0].status, status_code::error);
  EXPECT_EQ(sink->spans[0].status_message, "upstream refused");
}

TEST_F(tracer_api, a_child_shares_the_trace_and_points_at_its_parent) {
  auto t = make();
  auto parent = t.start_span("parent");
  auto child = t.start_child(parent, "child", span_kind::client);
  EXPECT_EQ(child.context().trace, parent.context().trace);
  EXPECT_NE(child.context().span, parent.context().span);
  child.end();
  parent.end();
  ASSERT_EQ(sink->spans.size(), 2u);
  EXPECT_EQ(sink->spans[0].parent, parent.context().span);
  EXPECT_EQ(sink->spans[0].kind, span_kind::client);
}

TEST_F(tracer_api, a_span_ends_when_it_goes_out_of_scope) {
  auto t = make();
  { auto s = t.start_span("raii"); }
  ASSERT_EQ(sink->spans.size(), 1u);
  EXPECT_EQ(sink->spans[0].name, "raii");
}

TEST_F(tracer_api, scoped_spans_parent_the_spans_started_inside) {
  auto t = make();
  span_context outer_ctx;
  {
    scoped_span outer{t.start_span("outer")};
    outer_ctx = outer->context();
    EXPECT_EQ(scoped_span::current(), &outer.get());
    {
      scoped_span inner{t.start_span("inner")};
      EXPECT_EQ(inner->context().trace, outer_ctx.trace);
    }
    EXPECT_EQ(scoped_span::current(), &outer.get());
  }
  EXPECT_EQ(scoped_span::current(), nullptr);
  ASSERT_EQ(sink->spans.size(), 2u);
  EXPECT_EQ(sink->spans[0].name, "inner");
  EXPECT_EQ(sink->spans[0].parent, outer_ctx.span);
  EXPECT_FALSE(sink->spans[1].parent.valid());
}

TEST_F(tracer_api, unsampled_spans_propagate_but_record_nothing) {
  auto t = make(sampler::never());
  auto s = t.start_span("quiet");
  EXPECT_FALSE(s.recording());
  EXPECT_TRUE(s.context().valid());
  EXPECT_FALSE(s.context().sampled());
  s.set_attribute("k", "v").add_event("e").finish("error", "x");
  EXPECT_TRUE(sink->spans.empty());
  header_list h;
  tracer::inject(s, h);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].second.substr(53), "00");
  EXPECT_EQ(t.stats().started, 1u);
  EXPECT_EQ(t.stats().sampled, 0u);
}

TEST_F(tracer_api, parent_based_follows_an_extracted_parent) {
  auto t = make(sampler::parent_based());
  header_list in{{"TraceParent",
                   "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"},
                  {"tracestate", "congo=t61rcWkgMzE"}};
  auto s = t.start_from(in, "server");
  EXPECT_FALSE(s.recording());
  EXPECT_EQ(s.context().trace.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  in[0].second = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  auto r = t.start_from(in, "server");
  ASSERT_TRUE(r.recording());
  r.end();
  ASSERT_EQ(sink->spans.size(), 1u);
  EXPECT_EQ(sink->spans[0].parent.to_hex(), "00f067aa0ba902b7");
  EXPECT_EQ(sink->spans[0].kind, span_kind::server);
  EXPECT_EQ(sink->spans[0].trace_state, "congo=t61rcWkgMzE");
}

TEST_F(tracer_api, extract_rejects_invalid_parents_and_drops_bad_state) {
  EXPECT_FALSE(tracer::extract({}));
  EXPECT_FALSE(tracer::extract({{"traceparent", "garbage"}}));
  auto tp =
      std::string{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"};
  EXPECT_FALSE(tracer::extract({{"traceparent", tp}, {"traceparent", tp}}));
  auto r = tracer::extract({{"traceparent", tp}, {"tracestate", "Bad=1"}});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->trace_state.empty());
  auto two = tracer::extract(
      {{"tracestate", "a=1"}, {"traceparent", tp}, {"tracestate", "b=2"}});
  ASSERT_TRUE(two);
  EXPECT_EQ(two->trace_state, "a=1,b=2");
  // An invalid traceparent starts a new trace and drops tracestate.
  auto t = make();
  auto s = t.start_from({{"traceparent", "00-zz"}, {"tracestate", "a=1"}}, "x");
  EXPECT_NE(s.context().trace.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_TRUE(s.trace_state().empty());
}

TEST_F(tracer_api, inject_replaces_existing_headers) {
  auto t = make();
  header_list in{{"traceparent",
                   "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
                  {"tracestate", "congo=t61rcWkgMzE"}};
  auto s = t.start_from(in, "server");
  header_list out{{"Accept", "*/*"}, {"TRACEPARENT", "old"}};
  tracer::inject(s, out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[1].first, "traceparent");
  EXPECT_EQ(out[1].second, format_traceparent(s.context()));
  EXPECT_EQ(out[1].second.substr(3, 32), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(out[2].second, "congo=t61rcWkgMzE");
}

TEST_F(tracer_api, span_json_has_the_spec_fields) {
  auto t = make();
  auto s = t.start_span("GET /proxy/orders/*", span_kind::server, nullptr);
  s.set_attribute("valmesh.service", "orders");
  time->advance(1500us);
  s.set_status(status_code::error, "boom");
  s.end();
  auto j = to_json(sink->spans.at(0));
  for (auto k : {"traceId", "spanId", "parentSpanId", "name", "kind",
                 "startTimeUnixNano", "endTimeUnixNano", "attributes", "events",
                 "status"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["kind"], "server");
  EXPECT_TRUE(j["parentSpanId"].is_null());
  EXPECT_EQ(j["status"]["code"], "error");
  EXPECT_EQ(j["status"]["message"], "boom");
  EXPECT_EQ(j["attributes"]["valmesh.service"], "orders");
  EXPECT_DOUBLE_EQ(j["durationMs"].get<double>(), 1.5);
  EXPECT_EQ(j["traceId"].get<std::string>().size(), 32u);
}

namespace {

/// A sink that hands out spans with a log already allocated, as the node's
/// does with the spans its tracer gives back.
struct recycling_sink : span_sink {
  std::vector<packed_span> submitted;
  size_t handed_out = 0;
  void submit(packed_span&& s) override { submitted.push_back(std::move(s)); }
  packed_span fresh() override {
    ++handed_out;
    span_data old;
    old.name = "an earlier span's name";
    old.attributes.push_back({"old", std::string(200, 'x')});
    old.status = status_code::error;
    packed_span p{old};
    p.reserve(1000);
    return p;
  }
};

}  // namespace

TEST_F(tracer_api, records_into_the_span_its_sink_hands_out_and_nothing_of_it) {
  auto sink = std::make_shared<recycling_sink>();
  tracer t{sampler::always(), time, sink};
  {
    auto s = t.start_span("new", {{"k", int64_t{1}}});
    EXPECT_EQ(sink->handed_out, 1u);
  }
  auto unsampled = tracer{sampler::never(), time, sink}.start_span("n");
  unsampled.end();
  EXPECT_EQ(sink->handed_out, 1u);  // only sampled spans record
  ASSERT_EQ(sink->submitted.size(), 1u);
  auto& p = sink->submitted[0];
  EXPECT_GE(p.packed_capacity(), 1000u);  // the memory it was handed
  auto u = p.unpack();
  EXPECT_EQ(u.name, "new");
  ASSERT_EQ(u.attributes.size(), 1u);
  EXPECT_EQ(u.attributes[0].key.name(), "k");
  EXPECT_EQ(u.status, status_code::unset);
}
