#include "http/client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace valmesh::web {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

std::string encode_path_segment(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xf];
    }
  }
  return out;
}

expected<endpoint> parse_http_addr(std::string_view text) {
  constexpr std::string_view scheme = "http://";
  if (text.substr(0, scheme.size()) == scheme)
    text.remove_prefix(scheme.size());
  if (!text.empty() && text.back() == '/') text.remove_suffix(1);
  auto ep = parse_endpoint(text);
  if (!ep || ep->port == 0)
    return failure{errc::invalid_argument,
                   "'" + std::string{text} +
                       "' is not an agent address like http://127.0.0.1:8700"};
  return ep;
}

expected<client_response> send_request(const endpoint& ep,
                                       const client_request& req) {
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  tcp::resolver resolver{ioc};
  beast::flat_buffer buffer;
  bhttp::request<bhttp::string_body> msg;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  beast::error_code result;
  const char* stage = "connect to";

  msg.method_string(req.method);
  msg.target(req.target);
  msg.version(11);
  msg.set(bhttp::field::host, ep.to_string());
  msg.set(bhttp::field::user_agent, "valmesh-client");
  for (auto& [k, v] : req.headers) msg.set(k, v);
  msg.body() = req.body;
  if (!req.body.empty() && msg.find(bhttp::field::content_type) == msg.end())
    msg.set(bhttp::field::content_type, "application/json");
  msg.keep_alive(false);
  msg.prepare_payload();

  stream.expires_after(req.timeout);
  resolver.async_resolve(
      ep.host, std::to_string(ep.port),
      [&](beast::error_code ec, tcp::resolver::results_type results) {
        if (ec) {
          result = ec;
          return;
        }
        stream.async_connect(results, [&](beast::error_code ec,
                                          const tcp::endpoint&) {
          if (ec) {
            result = ec;
            return;
          }
          stage = "send to";
          bhttp::async_write(stream, msg, [&](beast::error_code ec, size_t) {
            if (ec) {
              result = ec;
              return;
            }
            stage = "read from";
            bhttp::async_read(
                stream, buffer, parser,
                [&](beast::error_code ec, size_t) { result = ec; });
          });
        });
      });
  ioc.run();
  if (result == beast::error::timeout)
    return failure{errc::timeout, std::string{"timed out trying to "} + stage +
                                      " " + ep.to_string()};
  if (result)
    return failure{errc::unavailable, std::string{"cannot "} + stage + " " +
                                          ep.to_string() + ": " +
                                          result.message()};
  client_response out;
  auto res = parser.release();
  out.status = res.result_int();
  for (auto& f : res) {
    std::string name{f.name_string()};
    for (auto& c : name) c = static_cast<char>(std::tolower(c));
    auto [pos, fresh] = out.headers.emplace(name, std::string{f.value()});
    if (!fresh) pos->second += ", " + std::string{f.value()};
  }
  out.body = std::move(res.body());
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  return out;
}

}  // namespace valmesh::web
