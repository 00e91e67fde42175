// W3C Trace Context: the cases of the recommendation's traceparent and
// tracestate grammar (valid, invalid, edges), and round trips.

#include <set>

#include <gtest/gtest.h>

#include "runtime/tracing/trace_context.hpp"

using namespace valmesh;

namespace {

constexpr const char* example =
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

}  // namespace

TEST(traceparent, parses_the_recommendations_example) {
  auto ctx = parse_traceparent(example);
  ASSERT_TRUE(ctx);
  EXPECT_EQ(ctx->trace.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(ctx->span.to_hex(), "00f067aa0ba902b7");
  EXPECT_TRUE(ctx->sampled());
  EXPECT_EQ(format_traceparent(*ctx), example);
}

TEST(traceparent, reads_the_sampled_flag) {
  auto ctx = parse_traceparent(
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(ctx);
  EXPECT_FALSE(ctx->sampled());
  // Other bits are kept on parse but only `sampled` is defined for 00.
  auto other = parse_traceparent(
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09");
  ASSERT_TRUE(other);
  EXPECT_TRUE(other->sampled());
  EXPECT_EQ(format_traceparent(*other).substr(53), "01");
}

TEST(traceparent, rejects_all_zero_ids) {
  EXPECT_FALSE(parse_traceparent(
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
  EXPECT_FALSE(parse_traceparent(
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
}

TEST(traceparent, rejects_bad_hex_and_upper_case) {
  EXPECT_FALSE(parse_traceparent(
      "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"));
  EXPECT_FALSE(parse_traceparent(
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(parse_traceparent(
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01"));
  EXPECT_FALSE(parse_traceparent(
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0G"));
  EXPECT_FALSE(parse_traceparent(
      "0G-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(parse_traceparent(
      "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
}

TEST(traceparent, rejects_wrong_lengths_and_separators) {
  std::string ok = example;
  EXPECT_FALSE(parse_traceparent(""));
  EXPECT_FALSE(parse_traceparent(ok.substr(0, 54)));  // one short
  EXPECT_FALSE(parse_traceparent(ok + "-"));          // 00 must be exact
  EXPECT_FALSE(parse_traceparent(ok + "-00"));        // even with a '-'
  EXPECT_FALSE(parse_traceparent(" " + ok));          // no padding
  EXPECT_FALSE(parse_traceparent(
      "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01"));  // shifted
  EXPECT_FALSE(parse_traceparent(
      "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  EXPECT_FALSE(parse_traceparent(
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01"));
  EXPECT_FALSE(parse_traceparent(
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b701"));
}

TEST(traceparent, version_ff_is_invalid) {
  EXPECT_FALSE(parse_traceparent(
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
}

TEST(traceparent, a_future_version_parses_its_first_four_fields) {
  auto exact = parse_traceparent(
      "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(exact);
  EXPECT_EQ(exact->span.to_hex(), "00f067aa0ba902b7");
  auto longer = parse_traceparent(
      "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-"
      "holds");
  ASSERT_TRUE(longer);
  EXPECT_EQ(longer->trace.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  // Longer without the '-' separator is not a future format.
  EXPECT_FALSE(parse_traceparent(
      "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01xyz"));
  // And it goes on as version 00.
  EXPECT_EQ(format_traceparent(*longer), example);
}

TEST(ids, hex_round_trips_and_strictness) {
  auto t = trace_id::from_hex("0123456789abcdef0123456789abcdef");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->hi, 0x0123456789abcdefULL);
  EXPECT_EQ(t->to_hex(), "0123456789abcdef0123456789abcdef");
  EXPECT_FALSE(trace_id::from_hex("0123456789ABCDEF0123456789abcdef"));
  EXPECT_TRUE(trace_id::from_hex("0123456789ABCDEF0123456789abcdef", false));
  EXPECT_FALSE(trace_id::from_hex("00000000000000000000000000000000", false));
  EXPECT_FALSE(span_id::from_hex("0000000000000000"));
  EXPECT_FALSE(span_id::from_hex("00f067aa0ba902b"));
  EXPECT_EQ(span_id::from_hex("00f067aa0ba902b7")->to_hex(),
            "00f067aa0ba902b7");
}

TEST(ids, random_ids_are_valid_and_distinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto t = random_trace_id();
    auto s = random_span_id();
    ASSERT_TRUE(t.valid());
    ASSERT_TRUE(s.valid());
    seen.insert(t.to_hex());
  }
  EXPECT_EQ(seen.size(), 1000u);
}

// -- tracestate ---------------------------------------------------------------

TEST(tracestate, parses_members_in_order_with_white_space_and_empties) {
  auto ts = trace_state::parse("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE ,,\t");
  ASSERT_TRUE(ts);
  ASSERT_EQ(ts->members().size(), 2u);
  EXPECT_EQ(ts->members()[0].first, "rojo");
  EXPECT_EQ(*ts->get("congo"), "t61rcWkgMzE");
  EXPECT_EQ(ts->to_string(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  auto empty = trace_state::parse("");
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

TEST(tracestate, keys_follow_the_grammar) {
  EXPECT_TRUE(trace_state::valid_key("a"));
  EXPECT_TRUE(trace_state::valid_key("a0_-*/"));
  EXPECT_TRUE(trace_state::valid_key("fw529a3039@dt"));
  EXPECT_TRUE(trace_state::valid_key("0tenant@sys"));
  EXPECT_TRUE(trace_state::valid_key(std::string(256, 'a')));
  EXPECT_FALSE(trace_state::valid_key(std::string(257, 'a')));
  EXPECT_FALSE(trace_state::valid_key("0abc"));    // simple key: lcalpha first
  EXPECT_FALSE(trace_state::valid_key("Abc"));     // no upper case
  EXPECT_FALSE(trace_state::valid_key("a@"));      // empty system
  EXPECT_FALSE(trace_state::valid_key("@a"));      // empty tenant
  EXPECT_FALSE(trace_state::valid_key("t@0sys"));  // system: lcalpha first
  EXPECT_FALSE(trace_state::valid_key("t@" + std::string(15, 'a')));
  EXPECT_TRUE(trace_state::valid_key("t@" + std::string(14, 'a')));
  EXPECT_FALSE(trace_state::valid_key(std::string(242, 'a') + "@s"));
  EXPECT_TRUE(trace_state::valid_key(std::string(241, 'a') + "@s"));
  EXPECT_FALSE(trace_state::valid_key("a@b@c"));
  EXPECT_FALSE(trace_state::valid_key("a.b"));
}

TEST(tracestate, values_follow_the_grammar) {
  EXPECT_TRUE(trace_state::valid_value("x"));
  EXPECT_TRUE(trace_state::valid_value("with space inside"));
  EXPECT_TRUE(trace_state::valid_value(std::string(256, 'v')));
  EXPECT_FALSE(trace_state::valid_value(std::string(257, 'v')));
  EXPECT_FALSE(trace_state::valid_value(""));
  EXPECT_FALSE(trace_state::valid_value("trailing "));
  EXPECT_FALSE(trace_state::valid_value("a,b"));
  EXPECT_FALSE(trace_state::valid_value("a=b"));
  EXPECT_FALSE(trace_state::valid_value("tab\there"));
  EXPECT_FALSE(trace_state::valid_value("\x7f"));
}

TEST(tracestate, a_malformed_header_is_dropped_whole) {
  EXPECT_FALSE(trace_state::parse("novalue"));
  EXPECT_FALSE(trace_state::parse("a=1,B=2"));
  EXPECT_FALSE(trace_state::parse("a=1,a=2"));  // duplicate key
  EXPECT_FALSE(trace_state::parse("a=,b=2"));
}

TEST(tracestate, holds_at_most_32_members) {
  std::string s;
  for (int i = 0; i < 32; ++i) s += (i ? ",k" : "k") + std::to_string(i) + "=v";
  auto ts = trace_state::parse(s);
  ASSERT_TRUE(ts);
  EXPECT_EQ(ts->members().size(), 32u);
  EXPECT_FALSE(trace_state::parse(s + ",k32=v"));
  // Putting a new member at the front pushes the last one out.
  ASSERT_TRUE(ts->put("valmesh", "x"));
  EXPECT_EQ(ts->members().size(), 32u);
  EXPECT_EQ(ts->members().front().first, "valmesh");
  EXPECT_FALSE(ts->get("k31"));
}

TEST(tracestate, put_moves_an_existing_key_to_the_front) {
  auto ts = trace_state::parse("a=1,b=2,c=3");
  ASSERT_TRUE(ts);
  ASSERT_TRUE(ts->put("c", "9"));
  EXPECT_EQ(ts->to_string(), "c=9,a=1,b=2");
  EXPECT_FALSE(ts->put("Bad", "x"));
  EXPECT_EQ(ts->to_string(), "c=9,a=1,b=2");
}
