// The span ring buffer: capacity, the oldest dropped and counted, newest
// first, and the trace and service filters.

#include <gtest/gtest.h>

#include "runtime/span_buffer.hpp"

using namespace valmesh;

namespace {

span_data make(uint64_t n, uint64_t trace = 1, std::string service = "a") {
  span_data s;
  s.trace = trace_id{0, trace};
  s.span = span_id{n};
  s.name = "s" + std::to_string(n);
  s.attributes.push_back({"valmesh.service", std::move(service)});
  return s;
}

std::vector<uint64_t> ids(const std::vector<span_data>& xs) {
  std::vector<uint64_t> out;
  for (auto& x : xs) out.push_back(x.span.value);
  return out;
}

}  // namespace

TEST(span_buffer, returns_newest_first_up_to_the_limit) {
  span_buffer b{10};
  for (uint64_t i = 1; i <= 5; ++i) b.push(make(i));
  EXPECT_EQ(ids(b.query({})), (std::vector<uint64_t>{5, 4, 3, 2, 1}));
  span_query q;
  q.limit = 2;
  EXPECT_EQ(ids(b.query(q)), (std::vector<uint64_t>{5, 4}));
  auto st = b.stats();
  EXPECT_EQ(st.finished, 5u);
  EXPECT_EQ(st.dropped, 0u);
  EXPECT_EQ(st.size, 5u);
  EXPECT_EQ(st.capacity, 10u);
}

TEST(span_buffer, drops_the_oldest_when_full_and_counts_it) {
  span_buffer b{3};
  for (uint64_t i = 1; i <= 7; ++i) b.push(make(i));
  EXPECT_EQ(ids(b.query({})), (std::vector<uint64_t>{7, 6, 5}));
  auto st = b.stats();
  EXPECT_EQ(st.finished, 7u);
  EXPECT_EQ(st.dropped, 4u);
  EXPECT_EQ(st.size, 3u);
}

TEST(span_buffer, filters_by_trace_and_service) {
  span_buffer b{100};
  b.push(make(1, 7, "orders"));
  b.push(make(2, 8, "orders"));
  b.push(make(3, 7, "pay"));
  b.push(make(4, 7, "orders"));
  span_data plain;  // no service attribute
  plain.trace = trace_id{0, 7};
  plain.span = span_id{5};
  b.push(plain);
  span_query q;
  q.trace = trace_id{0, 7};
  EXPECT_EQ(ids(b.query(q)), (std::vector<uint64_t>{5, 4, 3, 1}));
  q.service = "orders";
  EXPECT_EQ(ids(b.query(q)), (std::vector<uint64_t>{4, 1}));
  q.limit = 1;
  EXPECT_EQ(ids(b.query(q)), (std::vector<uint64_t>{4}));
  span_query none;
  none.service = "nobody";
  EXPECT_TRUE(b.query(none).empty());
}

TEST(span_buffer, sorts_what_it_returns_by_end_time) {
  span_buffer b{10};
  auto late = make(1), early = make(2);
  late.end_unix_nano = 200;
  early.end_unix_nano = 100;
  b.push(late);
  b.push(early);  // arrived later, ended earlier
  EXPECT_EQ(ids(b.query({})), (std::vector<uint64_t>{1, 2}));
}

TEST(span_buffer, a_capacity_of_one_keeps_the_last) {
  span_buffer b{1};
  b.push(make(1));
  b.push(make(2));
  EXPECT_EQ(ids(b.query({})), (std::vector<uint64_t>{2}));
  EXPECT_EQ(b.stats().dropped, 1u);
}
