#include "runtime/cluster/auth.hpp"

#include <set>

#include <gtest/gtest.h>

using namespace valmesh;
namespace auth = valmesh::cluster_auth;

TEST(cluster_auth_test, challenges_are_fresh_hex) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto c = auth::new_challenge();
    EXPECT_EQ(c.size(), 64u);
    EXPECT_EQ(c.find_first_not_of("0123456789abcdef"), std::string::npos);
    seen.insert(c);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(cluster_auth_test, a_proof_is_hmac_sha256_of_its_text) {
  // Computed independently:
  // printf 'valmesh-cluster-auth/1\nresponder\nc1\nnode-b' |
  //   openssl dgst -sha256 -hmac s3cret
  EXPECT_EQ(auth::proof("s3cret", auth::responder, "c1", "node-b"),
            "ea7c9687b92f7d327961bf6ab9970a0b9a96830a11ada4e1c2f724089b06a9d9");
}

TEST(cluster_auth_test, only_the_right_secret_role_challenge_and_node_verify) {
  auto p = auth::proof("s3cret", auth::initiator, "c2", "node-a");
  EXPECT_TRUE(auth::verify("s3cret", auth::initiator, "c2", "node-a", p));
  EXPECT_FALSE(auth::verify("guess", auth::initiator, "c2", "node-a", p));
  EXPECT_FALSE(auth::verify("s3cret", auth::responder, "c2", "node-a", p))
      << "a proof of one role answers no challenge of the other";
  EXPECT_FALSE(auth::verify("s3cret", auth::initiator, "c3", "node-a", p))
      << "a proof is not replayed for another challenge";
  EXPECT_FALSE(auth::verify("s3cret", auth::initiator, "c2", "node-m", p))
      << "a proof is not relayed by another node";
  EXPECT_FALSE(auth::verify("s3cret", auth::initiator, "c2", "node-a", ""));
  EXPECT_FALSE(
      auth::verify("s3cret", auth::initiator, "c2", "node-a", p.substr(1)));
}
