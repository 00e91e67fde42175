#include "runtime/cluster/rendezvous.hpp"

#include <algorithm>
#include <map>

#include <gtest/gtest.h>

using namespace valmesh;

namespace {

constexpr int key_count = 10'000;

std::string key(int i) {
  return "orders/instance-" + std::to_string(i);
}

const std::vector<std::string> five = {"node-a", "node-b", "node-c", "node-d",
                                       "node-e"};

}  // namespace

TEST(rendezvous_test, no_candidate_means_no_owner) {
  EXPECT_EQ(rendezvous_owner("orders", {}), "");
}

TEST(rendezvous_test, one_candidate_owns_everything) {
  for (int i = 0; i < 100; ++i)
    EXPECT_EQ(rendezvous_owner(key(i), {"node-a"}), "node-a");
}

TEST(rendezvous_test, owner_does_not_depend_on_candidate_order) {
  auto reversed = five;
  std::reverse(reversed.begin(), reversed.end());
  auto rotated = five;
  std::rotate(rotated.begin(), rotated.begin() + 2, rotated.end());
  for (int i = 0; i < 1000; ++i) {
    auto owner = rendezvous_owner(key(i), five);
    EXPECT_EQ(rendezvous_owner(key(i), reversed), owner);
    EXPECT_EQ(rendezvous_owner(key(i), rotated), owner);
  }
}

TEST(rendezvous_test, owner_has_the_highest_weight) {
  for (int i = 0; i < 100; ++i) {
    auto owner = rendezvous_owner(key(i), five);
    for (const auto& c : five)
      EXPECT_GE(rendezvous_weight(owner, key(i)), rendezvous_weight(c, key(i)));
  }
}

TEST(rendezvous_test, weight_is_a_fixed_function_of_its_inputs) {
  // Nodes of different builds and machines must agree on owners, so the
  // hash is pinned (FNV-1a over candidate, 0, key; SplitMix64 finaliser).
  EXPECT_EQ(rendezvous_weight("node-a", "orders"), 0x65dcbf05aaed6662ULL);
  EXPECT_EQ(rendezvous_weight("", ""), 0x25fc6dd36ce04b20ULL);
  // The separator keeps the boundary between the two strings.
  EXPECT_NE(rendezvous_weight("ab", "c"), rendezvous_weight("a", "bc"));
  EXPECT_NE(rendezvous_weight("node-a", "orders"),
            rendezvous_weight("orders", "node-a"));
}

TEST(rendezvous_test, removing_a_candidate_moves_only_its_keys) {
  auto four = five;
  std::erase(four, "node-c");
  int moved = 0;
  for (int i = 0; i < key_count; ++i) {
    auto before = rendezvous_owner(key(i), five);
    auto after = rendezvous_owner(key(i), four);
    if (before == "node-c") {
      EXPECT_NE(after, "node-c");
      ++moved;
    } else {
      EXPECT_EQ(after, before) << key(i);
    }
  }
  EXPECT_GT(moved, 0);
}

TEST(rendezvous_test, adding_a_candidate_moves_about_its_share) {
  auto six = five;
  six.push_back("node-f");
  int moved = 0;
  for (int i = 0; i < key_count; ++i) {
    auto before = rendezvous_owner(key(i), five);
    auto after = rendezvous_owner(key(i), six);
    if (after != before) {
      EXPECT_EQ(after, "node-f");  // keys move only to the newcomer
      ++moved;
    }
  }
  // About 1/6 of the keys (1,667) move.
  EXPECT_GT(moved, key_count / 6 - 500);
  EXPECT_LT(moved, key_count / 6 + 500);
}

TEST(rendezvous_test, spreads_keys_evenly) {
  std::map<std::string, int> owned;
  for (int i = 0; i < key_count; ++i) ++owned[rendezvous_owner(key(i), five)];
  ASSERT_EQ(owned.size(), five.size());
  for (const auto& [name, n] : owned) {
    EXPECT_GE(n, key_count * 15 / 100) << name;
    EXPECT_LE(n, key_count * 25 / 100) << name;
  }
}
