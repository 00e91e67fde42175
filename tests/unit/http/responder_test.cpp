// A responder without the server's raw path: an answer given as its parts
// arrives as the `response` with those fields.

#include <gtest/gtest.h>

#include "http/server.hpp"

using namespace valmesh::web;

TEST(responder, raw_parts_become_a_response_where_the_server_has_no_raw_path) {
  std::optional<response> got;
  responder done{[&](response&& res) { got = std::move(res); }, 11, true};
  done.raw(201, "Content-Type: text/plain\r\nX-A: 1\r\nX-A: 2\r\n", "made");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->result_int(), 201u);
  EXPECT_EQ(got->version(), 11u);
  EXPECT_EQ((*got)[beast_http::field::content_type], "text/plain");
  EXPECT_EQ(std::distance(got->find("X-A"), got->end()), 2);
  EXPECT_EQ(got->body(), "made");
  // Only the first answer counts.
  done.raw(500, "", "again");
  EXPECT_EQ(got->result_int(), 201u);
}
