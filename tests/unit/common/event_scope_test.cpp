#include "runtime/common/clock.hpp"

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

using valmesh::event_scope;
using valmesh::system_clock_source;

namespace {

/// Spins until the steady clock has moved past `t` (it ticks in
/// nanoseconds, so this takes a few reads).
void wait_past(std::chrono::steady_clock::time_point t) {
  while (std::chrono::steady_clock::now() <= t) {
  }
}

}  // namespace

TEST(event_scope, outside_a_scope_now_reads_the_clock) {
  auto a = event_scope::now();
  wait_past(a);
  EXPECT_GT(event_scope::now(), a);
  EXPECT_GT(system_clock_source{}.now(), a);
}

TEST(event_scope, inside_a_scope_now_is_the_instant_the_event_began) {
  auto before = std::chrono::steady_clock::now();
  event_scope event;
  auto at = event_scope::now();
  EXPECT_GE(at, before);
  wait_past(at);
  EXPECT_EQ(event_scope::now(), at);
  // The node's clock, which the mesh and its policies read, follows it.
  system_clock_source time;
  EXPECT_EQ(time.now(), at);
  // Wall-clock time is not cached: timestamps users read stay exact.
  auto us = time.unix_us();
  while (time.unix_us() == us) {
  }
  EXPECT_GT(time.unix_us(), us);
  EXPECT_EQ(event_scope::now(), at);
}

TEST(event_scope, a_nested_scope_keeps_the_outer_instant) {
  event_scope outer;
  auto at = event_scope::now();
  wait_past(at);
  {
    event_scope inner;
    EXPECT_EQ(event_scope::now(), at);
  }
  // Closing the inner scope does not end the outer one.
  EXPECT_EQ(event_scope::now(), at);
}

TEST(event_scope, a_closed_scope_leaves_the_clock_running) {
  std::chrono::steady_clock::time_point at;
  {
    event_scope event;
    at = event_scope::now();
  }
  wait_past(at);
  EXPECT_GT(event_scope::now(), at);
  // A new scope takes a new instant.
  event_scope next;
  EXPECT_GT(event_scope::now(), at);
}

TEST(event_scope, a_scope_is_the_opening_threads_alone) {
  event_scope event;
  auto at = event_scope::now();
  wait_past(at);
  std::chrono::steady_clock::time_point seen;
  std::thread{[&] { seen = event_scope::now(); }}.join();
  EXPECT_GT(seen, at);
  EXPECT_EQ(event_scope::now(), at);
}
