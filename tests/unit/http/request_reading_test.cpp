// The readers of common messages (http/simple_head.hpp): the server's of
// requests (read_simple_request) and the upstream exchange's of answers
// (read_simple_response). What each takes it reads exactly as Beast's
// parser does, and everything else it leaves to the parser, untouched.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "http/response_reader.hpp"
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
  for (size_t i = 0; i <= simple_head::max_fields; ++i)
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

namespace {

/// The exchange's `response_reader` over `bytes` (a whole answer).
struct reader_answer {
  upstream_response response;
  bool keep_alive = false;
  size_t used = 0;
};

reader_answer reader_read(std::string_view bytes, uint64_t limit) {
  response_reader p{limit};
  p.eager(true);
  boost::beast::error_code ec;
  reader_answer a;
  a.used = p.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(p.is_done());
  a.keep_alive = p.keep_alive();
  a.response = std::move(p.get());
  return a;
}

void expect_answer_as_reader(std::string_view bytes,
                             uint64_t limit = 16 << 20) {
  upstream_response simple;
  bool keep_alive = false;
  auto used = read_simple_response(bytes, limit, simple, keep_alive);
  ASSERT_GT(used, 0u) << bytes;
  auto want = reader_read(bytes, limit);
  EXPECT_EQ(used, want.used);
  EXPECT_EQ(simple.status, want.response.status);
  EXPECT_EQ(simple.headers, want.response.headers);
  EXPECT_EQ(simple.body, want.response.body);
  EXPECT_EQ(keep_alive, want.keep_alive);
}

void expect_answer_left_to_reader(std::string_view bytes,
                                  uint64_t limit = 16 << 20) {
  upstream_response out;
  out.status = 1;
  bool keep_alive = true;
  EXPECT_EQ(read_simple_response(bytes, limit, out, keep_alive), 0u) << bytes;
  EXPECT_EQ(out.status, 1u);
  EXPECT_TRUE(out.headers.empty());
  EXPECT_TRUE(keep_alive);
}

}  // namespace

TEST(read_simple_response, reads_nginx_s_answer_as_the_reader_does) {
  expect_answer_as_reader(
      "HTTP/1.1 200 OK\r\n"
      "Server: nginx/1.22.1\r\n"
      "Date: Mon, 07 Dec 2026 16:00:00 GMT\r\n"
      "Content-Type: application/octet-stream\r\n"
      "Content-Length: 2\r\n"
      "Connection: keep-alive\r\n"
      "X-Repeated: a\r\n"
      "X-Other:  padded \t\r\n"
      "x-repeated: b\r\n"
      "\r\n"
      "ok");
  expect_answer_as_reader("HTTP/1.1 503 \r\nContent-Length: 0\r\n\r\n");
  expect_answer_as_reader(
      "HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 1\r\n"
      "\r\nx");
  expect_answer_as_reader("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx");
  expect_answer_as_reader(
      "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: "
      "1\r\n\r\nx");
}

TEST(read_simple_response, leaves_the_rest_to_the_reader) {
  for (std::string_view bytes : {
           "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",  // not all here
           "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n",
           "HTTP/1.1 200 OK\r\n\r\nto the close",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
           "HTTP/1.1 204 No Content\r\n\r\n",
           "HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\n\r\n",
           "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
           "HTTP/1.1 100 Continue\r\n\r\n",
           "HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n",
           "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
           "HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n",
           "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n",
           "HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX-Folded: a\r\n b\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 0, 0\r\n\r\n",
       })
    expect_answer_left_to_reader(bytes);
  // A body over the limit: the reader refuses it.
  expect_answer_left_to_reader(
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
      "abcde",
      4);
}
