// Request targets as the router takes them (http/router.cpp): the method and
// target of a request against the node's routes, path parameters and
// wildcards percent-decoded, query strings read the way the handlers read
// them. Input: byte 0 the method, the rest the request target.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <string>
#include <string_view>

#include "http/router.hpp"

using namespace valmesh::web;
using verb = beast_http::verb;

namespace {

const router& routes() {
  static const router r = [] {
    router r;
    auto read_all = [](request_context&& rc, responder done) {
      // What handlers read: parameters, the rest, and query keys.
      for (auto name : {"name", "id"}) (void)rc.param(name);
      for (auto key : {"strategy", "healthyOnly", "lastEventId", "limit",
                       "trace", "node", "ms"})
        (void)rc.query(key);
      done(make_json_response(200, "{}", done.version()));
    };
    for (auto p :
         {"/health", "/metrics", "/api/services", "/api/services/:name",
          "/api/services/:name/resolve", "/api/health/aggregated",
          "/api/health/services", "/api/events", "/api/mesh", "/api/actors",
          "/api/cluster/members", "/api/tracing/spans", "/api/tracing/stats"})
      r.add(verb::get, p, read_all);
    r.add(verb::post, "/api/services", read_all);
    r.add(verb::delete_, "/api/services/:name/:id", read_all);
    r.add(verb::put, "/api/services/:name/:id/heartbeat", read_all);
    r.add(verb::post, "/api/call", read_all);
    r.add(verb::post, "/api/cluster/join", read_all);
    r.add(verb::post, "/api/debug/actors/*", read_all);
    r.any("/proxy/:name/*", read_all);
    return r;
  }();
  return r;
}

constexpr verb methods[] = {verb::get,     verb::head,  verb::post,   verb::put,
                            verb::delete_, verb::patch, verb::options};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  auto method = methods[data[0] % std::size(methods)];
  std::string target{reinterpret_cast<const char*>(data) + 1, size - 1};
  request req;
  req.method(method);
  req.version(11);
  try {
    req.target(target);
  } catch (...) {
    return 0;  // not a value Beast accepts as a target
  }
  unsigned status = 0;
  routes().dispatch(
      std::move(req),
      responder{[&](response&& res) { status = res.result_int(); }, 11, true});
  // Every request gets one answer, and only these.
  if (status != 200 && status != 400 && status != 404 && status != 405)
    std::abort();
  // The decoder alone, both ways.
  (void)percent_decode(target, (data[0] & 0x80) != 0);
  return 0;
}
