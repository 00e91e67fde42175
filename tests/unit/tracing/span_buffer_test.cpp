// The span ring buffer: capacity, the oldest dropped and counted, newest
// first, and the trace and service filters.

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

#include "runtime/tracing/span_buffer.hpp"

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

TEST(packed_span, gives_back_every_field_it_was_packed_with) {
  span_data s;
  s.trace = *trace_id::from_hex("4bf92f3577b34da6a3ce929d0e0e4736");
  s.span = span_id{0x00f067aa0ba902b7};
  s.parent = span_id{42};
  s.name = "GET /proxy/orders/* with a name longer than the small buffer";
  s.kind = span_kind::client;
  s.start_unix_nano = 1'700'000'000'000'000'000;
  s.end_unix_nano = 1'700'000'000'000'500'000;
  s.attributes = {{known_attribute::http_request_method, std::string{"GET"}},
                  {known_attribute::http_response_status_code, int64_t{503}},
                  {"custom.ratio", 0.25},
                  {"custom.flag", true},
                  {"custom.empty", std::string{}},
                  {known_attribute::valmesh_correlation_id,
                   std::string{"6f1c3e2a-1b7d-4c55-9a0e-8d2f4b6c1a90"}}};
  s.events = {{"retry", 1'700'000'000'000'100'000, {{"attempt", int64_t{2}}}},
              {"empty", 7, {}}};
  s.status = status_code::error;
  s.status_message = "upstream refused";
  s.trace_state = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";

  packed_span p{s};
  auto copy = p;  // a copy owns its own buffer
  for (auto* x : {&p, &copy}) {
    auto u = x->unpack();
    EXPECT_EQ(u.trace, s.trace);
    EXPECT_EQ(u.span, s.span);
    EXPECT_EQ(u.parent, s.parent);
    EXPECT_EQ(u.name, s.name);
    EXPECT_EQ(u.kind, s.kind);
    EXPECT_EQ(u.start_unix_nano, s.start_unix_nano);
    EXPECT_EQ(u.end_unix_nano, s.end_unix_nano);
    EXPECT_EQ(u.status, s.status);
    EXPECT_EQ(u.status_message, s.status_message);
    EXPECT_EQ(u.trace_state, s.trace_state);
    ASSERT_EQ(u.attributes.size(), s.attributes.size());
    for (size_t i = 0; i < s.attributes.size(); ++i) {
      EXPECT_EQ(u.attributes[i].key.name(), s.attributes[i].key.name());
      EXPECT_EQ(u.attributes[i].key.known(), s.attributes[i].key.known());
      EXPECT_EQ(u.attributes[i].value, s.attributes[i].value) << i;
    }
    ASSERT_EQ(u.events.size(), 2u);
    EXPECT_EQ(u.events[0].name, "retry");
    EXPECT_EQ(u.events[0].time_unix_nano, s.events[0].time_unix_nano);
    ASSERT_EQ(u.events[0].attributes.size(), 1u);
    EXPECT_EQ(u.events[0].attributes[0].key.name(), "attempt");
    EXPECT_EQ(u.events[0].attributes[0].value, attribute_value{int64_t{2}});
    EXPECT_TRUE(u.events[1].attributes.empty());
  }
  EXPECT_EQ(p.string_attribute("valmesh.correlation_id"),
            "6f1c3e2a-1b7d-4c55-9a0e-8d2f4b6c1a90");
  EXPECT_EQ(p.string_attribute("custom.empty"), "");
  EXPECT_FALSE(p.string_attribute("custom.flag"));  // not a string
  EXPECT_FALSE(p.string_attribute("absent"));
  EXPECT_EQ(p.end_unix_nano(), s.end_unix_nano);
}

TEST(packed_span, an_empty_span_round_trips) {
  span_data s;
  auto u = packed_span{s}.unpack();
  EXPECT_FALSE(u.trace.valid());
  EXPECT_TRUE(u.name.empty());
  EXPECT_TRUE(u.attributes.empty());
  EXPECT_TRUE(u.events.empty());
  EXPECT_FALSE(packed_span{}.string_attribute("x"));
  EXPECT_TRUE(packed_span{}.unpack().attributes.empty());
}

TEST(span_buffer, the_service_filter_matches_the_gateway_s_known_attribute) {
  span_buffer b{10};
  span_data s = make(1);
  s.attributes = {{known_attribute::valmesh_service, std::string{"orders"}}};
  b.push(s);
  b.push(make(2, 1, "billing"));
  span_query q;
  q.service = "orders";
  EXPECT_EQ(ids(b.query(q)), (std::vector<uint64_t>{1}));
}

namespace {

/// A span whose log carries `bytes` of one attribute's value, made of `n`.
span_data with_log(uint64_t n, size_t bytes) {
  auto s = make(n);
  s.attributes.push_back(
      {"payload", std::string(bytes, static_cast<char>('a' + n % 26))});
  return s;
}

}  // namespace

// The byte ring: whatever the logs' sizes, the buffer holds the newest
// spans it says it holds, each intact, however the logs wrap around.
TEST(span_buffer, holds_the_newest_spans_intact_whatever_their_sizes) {
  span_buffer b{50};
  std::vector<span_data> pushed;
  uint64_t seed = 12345;
  for (uint64_t i = 1; i <= 2000; ++i) {
    seed = seed * 6364136223846793005u + 1442695040888963407u;
    auto bytes = static_cast<size_t>((seed >> 33) % 3000);
    if (i % 97 == 0) bytes = 40'000;  // now and then a large one
    pushed.push_back(with_log(i, bytes));
    b.push(pushed.back());
    auto st = b.stats();
    ASSERT_GE(st.size, 1u);
    ASSERT_LE(st.size, 50u);
    ASSERT_EQ(st.finished, i);
    ASSERT_EQ(st.dropped, i - st.size);
    if (i % 50 != 0 && i != 1999) continue;
    span_query q;
    q.limit = st.size;
    auto got = b.query(q);
    ASSERT_EQ(got.size(), st.size);
    for (size_t k = 0; k < got.size(); ++k) {
      auto& want = pushed[pushed.size() - 1 - k];
      ASSERT_EQ(got[k].span, want.span) << "push " << i << ", newest " << k;
      ASSERT_EQ(got[k].name, want.name);
      ASSERT_EQ(got[k].attributes.size(), 2u);
      ASSERT_EQ(got[k].attributes[1].value, want.attributes[1].value);
    }
  }
}

TEST(span_buffer, grows_its_byte_ring_before_it_drops_spans) {
  span_buffer b{1000};  // 256 KiB of bytes to start with, 1 MiB at most
  EXPECT_EQ(b.byte_capacity(), 256'000u);
  for (uint64_t i = 1; i <= 1000; ++i) b.push(with_log(i, 600));
  EXPECT_EQ(b.stats().size, 1000u);  // 600 KB of logs: grown, none dropped
  EXPECT_EQ(b.stats().dropped, 0u);
  EXPECT_GT(b.byte_capacity(), 600'000u);
  // 2 KB logs for 1000 spans need more than the most it grows to: it holds
  // fewer spans than its capacity and counts the others as dropped.
  for (uint64_t i = 1001; i <= 2000; ++i) b.push(with_log(i, 2000));
  EXPECT_EQ(b.byte_capacity(), 1'024'000u);
  auto st = b.stats();
  EXPECT_LT(st.size, 1000u);
  EXPECT_GT(st.size, 400u);
  EXPECT_EQ(st.dropped, 2000u - st.size);
  span_query q;
  q.limit = 1;
  auto newest = b.query(q);
  ASSERT_EQ(newest.size(), 1u);
  EXPECT_EQ(newest[0].span, span_id{2000});
}

TEST(span_buffer, a_log_larger_than_its_byte_ring_fits_beside_the_others) {
  span_buffer b{3};  // 64 KiB
  b.push(make(1));
  b.push(with_log(2, 100'000));
  b.push(make(3));
  EXPECT_GE(b.byte_capacity(), 200'000u);
  auto got = b.query({});
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].span, span_id{3});
  EXPECT_EQ(got[1].attributes[1].value,
            attribute_value{std::string(100'000, 'c')});
  EXPECT_EQ(got[2].span, span_id{1});
  EXPECT_EQ(b.stats().dropped, 0u);
}

TEST(packed_span, a_reset_keeps_the_log_s_memory_and_nothing_else) {
  packed_span p{with_log(1, 500)};
  p.set_status(status_code::error, "boom");
  auto room = p.packed_capacity();
  ASSERT_GE(room, 500u);
  p.reset(trace_id{0, 9}, span_id{10}, span_id{11}, span_kind::server, 5);
  EXPECT_EQ(p.packed_capacity(), room);
  EXPECT_EQ(p.packed_size(), 0u);
  auto u = p.unpack();
  EXPECT_EQ(u.trace, (trace_id{0, 9}));
  EXPECT_EQ(u.span, span_id{10});
  EXPECT_EQ(u.parent, span_id{11});
  EXPECT_EQ(u.kind, span_kind::server);
  EXPECT_EQ(u.start_unix_nano, 5);
  EXPECT_EQ(u.end_unix_nano, 0);
  EXPECT_EQ(u.status, status_code::unset);
  EXPECT_TRUE(u.name.empty());
  EXPECT_TRUE(u.attributes.empty());
}

TEST(span_returns, hands_back_batches_oldest_first_and_keeps_only_a_few) {
  span_returns r;
  std::vector<packed_span> into;
  EXPECT_FALSE(r.take(into));
  auto batch = [](uint64_t first, size_t log_bytes) {
    std::vector<packed_span> xs;
    for (uint64_t i = first; i < first + 3; ++i)
      xs.emplace_back(with_log(i, log_bytes));
    xs.emplace_back();  // no log: nothing to reuse, not kept
    return xs;
  };
  r.give_back(batch(1, 10));
  r.give_back(batch(4, 10));
  r.give_back(batch(7, 10));  // more than `max_waiting`: freed
  ASSERT_TRUE(r.take(into));
  ASSERT_EQ(into.size(), 3u);
  EXPECT_EQ(into[0].id(), span_id{1});
  ASSERT_TRUE(r.take(into));
  EXPECT_EQ(into[0].id(), span_id{4});
  EXPECT_FALSE(r.take(into));
  // A log grown past `max_log_bytes` is not worth keeping.
  r.give_back(batch(10, span_returns::max_log_bytes + 1));
  EXPECT_FALSE(r.take(into));
}

TEST(span_buffer, a_batch_goes_in_whole_and_in_order) {
  span_buffer b{4};
  std::vector<packed_span> batch;
  for (uint64_t i = 1; i <= 6; ++i) batch.emplace_back(make(i));
  b.push(batch);
  EXPECT_EQ(ids(b.query({})), (std::vector<uint64_t>{6, 5, 4, 3}));
  auto st = b.stats();
  EXPECT_EQ(st.finished, 6u);
  EXPECT_EQ(st.dropped, 2u);
  // The batch is copied, not taken: its spans can be recorded into again.
  ASSERT_EQ(batch.size(), 6u);
  EXPECT_EQ(batch[0].id(), span_id{1});
  EXPECT_GT(batch[0].packed_size(), 0u);
}

TEST(shared_span_buffer, keeps_every_span_pushed_from_several_threads) {
  // Two "loops" copy batches in while a third thread queries: every span
  // is counted once, and the buffer holds the newest of them.
  constexpr uint64_t per_thread = 2000;
  constexpr size_t batch_size = 50;
  shared_span_buffer b{500};
  auto loop = [&](uint64_t first) {
    std::vector<packed_span> batch;
    for (uint64_t i = first; i < first + per_thread; ++i) {
      batch.emplace_back(make(i, first));
      if (batch.size() == batch_size) {
        b.push(batch);
        batch.clear();
      }
    }
    b.push(batch);
  };
  std::atomic<bool> done{false};
  size_t largest = 0;
  std::thread reader{[&] {
    while (!done.load()) {
      span_query q;
      q.limit = 1000;
      largest = std::max(largest, b.query(q).size());
    }
  }};
  std::thread one{loop, 1'000'000};
  std::thread two{loop, 2'000'000};
  one.join();
  two.join();
  done = true;
  reader.join();
  auto st = b.stats();
  EXPECT_EQ(st.finished, 2 * per_thread);
  EXPECT_EQ(st.size, 500u);
  EXPECT_EQ(st.dropped, 2 * per_thread - 500);
  EXPECT_LE(largest, 500u);
  // The newest span is one thread's last; every span held is intact.
  span_query q;
  q.limit = 1000;
  auto held = b.query(q);
  ASSERT_EQ(held.size(), 500u);
  auto newest = held.front().span.value;
  EXPECT_TRUE(newest == 1'000'000 + per_thread - 1 ||
              newest == 2'000'000 + per_thread - 1)
      << newest;
  for (auto& s : held) {
    auto first = s.span.value < 2'000'000 ? 1'000'000u : 2'000'000u;
    EXPECT_EQ(s.trace, (trace_id{0, first}));
    EXPECT_EQ(s.name, "s" + std::to_string(s.span.value));
  }
}
