#include "http/api.hpp"

#include <gtest/gtest.h>

using namespace valmesh;
using namespace valmesh::web;

namespace {

request with_auth(const char* value) {
  request req{beast_http::verb::post, "/api/services", 11};
  if (value != nullptr) req.set(beast_http::field::authorization, value);
  return req;
}

}  // namespace

TEST(auth, missing_credentials_are_401) {
  auto f = check_token(with_auth(nullptr), "s3cret");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->code, errc::unauthorized);
  EXPECT_EQ(status_of(f->code), 401u);
  EXPECT_EQ(check_token(with_auth("Basic abc"), "s3cret")->code,
            errc::unauthorized);
  // An empty bearer value is no credential at all.
  EXPECT_EQ(check_token(with_auth("Bearer "), "s3cret")->code,
            errc::unauthorized);
}

TEST(auth, wrong_tokens_are_403) {
  for (auto bad :
       {"Bearer s3cre", "Bearer s3cret2", "Bearer S3CRET", "Bearer xxxxxx"}) {
    auto f = check_token(with_auth(bad), "s3cret");
    ASSERT_TRUE(f) << bad;
    EXPECT_EQ(f->code, errc::forbidden) << bad;
  }
}

TEST(auth, the_right_token_passes) {
  EXPECT_FALSE(check_token(with_auth("Bearer s3cret"), "s3cret"));
}
