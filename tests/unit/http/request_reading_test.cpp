// The server's reader of common requests (read_simple_request): what it
// takes it reads exactly as Beast's parser does, and everything else it
// leaves to Beast's parser, untouched.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "http/server.hpp"

using namespace valmesh;
using namespace valmesh::web;

namespace {

using field_list = std::vector<std::pair<std::string, std::string>>;

field_list fields_of(const request& r) {
  field_list out;
  for (auto& f : r)
    out.emplace_back(std::string{f.name_string()}, std::string{f.value()});
  return out;
}

/// Beast's parser over `bytes` (a whole message); the request and the
/// bytes used.
std::pair<request, size_t> beast_read(std::string_view bytes,
                                      const server_options& options) {
  request_parser parser;
  prepare_parser(parser, options);
  parser.eager(true);
  boost::beast::error_code ec;
  auto used = parser.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.is_done());
  return {parser.release(), used};
}

void expect_same_as_beast(std::string_view bytes,
                          const server_options& options = {}) {
  request simple;
  auto used = read_simple_request(bytes, options, simple);
  ASSERT_GT(used, 0u) << bytes;
  auto [beast, beast_used] = beast_read(bytes, options);
  EXPECT_EQ(used, beast_used);
  EXPECT_EQ(simple.method(), beast.method());
  EXPECT_EQ(simple.method_string(), beast.method_string());
  EXPECT_EQ(simple.target(), beast.target());
  EXPECT_EQ(simple.version(), beast.version());
  EXPECT_EQ(fields_of(simple), fields_of(beast));
  EXPECT_EQ(simple.body(), beast.body());
  EXPECT_EQ(simple.keep_alive(), beast.keep_alive());
}

/// Left to Beast's parser: 0, and `out` untouched.
void expect_left_to_beast(std::string_view bytes,
                          const server_options& options = {}) {
  request out;
  out.target("/untouched");
  EXPECT_EQ(read_simple_request(bytes, options, out), 0u) << bytes;
  EXPECT_EQ(out.target(), "/untouched");
  EXPECT_EQ(out.begin(), out.end());
}

}  // namespace

TEST(read_simple_request, reads_a_proxied_get_as_beast_does) {
  expect_same_as_beast(
      "GET /proxy/orders/items/42?x=1 HTTP/1.1\r\n"
      "Host: 127.0.0.1:8700\r\n"
      "User-Agent: curl/7.88.1\r\n"
      "Accept: */*\r\n"
      "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n"
      "\r\n");
}

TEST(read_simple_request, trims_values_keeps_case_and_empty_values) {
  expect_same_as_beast(
      "POST /api/call HTTP/1.1\r\n"
      "X-Padded: \t  a  b \t \r\n"
      "x-lower: v\r\n"
      "X-Empty:\r\n"
      "X-Blank:   \r\n"
      "X-Obs-Text: caf\xc3\xa9\r\n"
      "Content-Length: 5\r\n"
      "\r\n"
      "hello");
}

TEST(read_simple_request, takes_one_request_of_a_pipeline) {
  std::string two =
      "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /b HTTP/1.1\r\nHost: x\r\n\r\n";
  request first;
  auto used = read_simple_request(two, {}, first);
  EXPECT_EQ(used, two.size() / 2);
  EXPECT_EQ(first.target(), "/a");
  request second;
  EXPECT_EQ(read_simple_request(std::string_view{two}.substr(used), {}, second),
            two.size() / 2);
  EXPECT_EQ(second.target(), "/b");
}

TEST(read_simple_request, reads_http_1_0_unknown_methods_and_connection) {
  expect_same_as_beast("GET / HTTP/1.0\r\n\r\n");
  expect_same_as_beast("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  expect_same_as_beast("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
  expect_same_as_beast("PURGE /cache HTTP/1.1\r\n\r\n");
  expect_same_as_beast("get /lower-case-method HTTP/1.1\r\n\r\n");
  expect_same_as_beast("DELETE /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
}

TEST(read_simple_request, leaves_the_rest_to_beast_s_parser) {
  // Not whole yet: Beast's parser reads on.
  expect_left_to_beast("GET / HTTP/1.1\r\nHost: x\r\n");
  expect_left_to_beast("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel");
  // What the reader does not take, well formed or not.
  for (std::string_view bytes : {
           "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
           "GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
           "GET / HTTP/1.1\r\nProxy-Connection: close\r\n\r\n",
           "GET / HTTP/1.1\r\nConnection: keep-alive, Upgrade\r\n\r\n",
           "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
           "GET / HTTP/1.1\r\nContent-Length: +1\r\n\r\nx",
           "GET / HTTP/1.1\r\nContent-Length: 1234567890123456789\r\n\r\n",
           "GET / HTTP/1.1\r\nX-Folded: a\r\n b\r\n\r\n",
           "GET / HTTP/1.1\r\nX-Bad : v\r\n\r\n",
           "GET / HTTP/1.1\r\nX-Ctl: a\x01z\r\n\r\n",
           "GET / HTTP/1.1\r\nX-Lf: a\nb\r\n\r\n",
           "GET / HTTP/1.1\r\n: empty-name\r\n\r\n",
           "GET / HTTP/2.0\r\n\r\n",
           "GET / HTTP/1.1\n\r\n",
           "GET  / HTTP/1.1\r\n\r\n",
           "GET /a b HTTP/1.1\r\n\r\n",
           "\r\nGET / HTTP/1.1\r\n\r\n",
           "GET / HTTP/1.1\r\n\r",
       })
    expect_left_to_beast(bytes);
  // More fields than it keeps.
  std::string many = "GET / HTTP/1.1\r\n";
  for (size_t i = 0; i <= simple_request_fields; ++i)
    many += "X-" + std::to_string(i) + ": v\r\n";
  expect_left_to_beast(many + "\r\n");
}

TEST(read_simple_request, leaves_requests_over_the_limits_to_beast_s_parser) {
  server_options small;
  small.header_limit = 64;
  small.body_limit = 4;
  expect_same_as_beast("GET / HTTP/1.1\r\nHost: x\r\n\r\n", small);
  expect_left_to_beast(
      "GET / HTTP/1.1\r\nX-Long: " + std::string(60, 'v') + "\r\n\r\n", small);
  expect_same_as_beast("PUT / HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd",
                       small);
  expect_left_to_beast("PUT / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde",
                       small);
}
