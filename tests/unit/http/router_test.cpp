#include "http/router.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace valmesh;
using namespace valmesh::web;

namespace {

/// Dispatches `method target` and returns the response synchronously (the
/// handlers below answer inline).
response run(const router& r, beast_http::verb method, std::string target) {
  request req{method, target, 11};
  response out;
  bool answered = false;
  r.dispatch(std::move(req), responder{[&](response&& res) {
                                         out = std::move(res);
                                         answered = true;
                                       },
                                       11, true});
  EXPECT_TRUE(answered);
  return out;
}

router make_router(std::vector<std::string>& seen) {
  router r;
  auto record = [&seen](std::string tag) {
    return [&seen, tag](request_context&& rc, responder done) {
      std::string line = tag;
      for (auto& [k, v] : rc.params) line += " " + k + "=" + v;
      if (!rc.rest.empty()) line += " rest=" + rc.rest;
      if (auto q = rc.query("q")) line += " q=" + *q;
      seen.push_back(line);
      done(make_json_response(200, "{}", 11));
    };
  };
  r.add(beast_http::verb::get, "/api/services", record("list"));
  r.add(beast_http::verb::post, "/api/services", record("register"));
  r.add(beast_http::verb::get, "/api/services/:name", record("get"));
  r.add(beast_http::verb::delete_, "/api/services/:name/:id", record("del"));
  r.any("/proxy/:name/*", record("proxy"));
  return r;
}

}  // namespace

TEST(router, matches_literals_params_and_wildcards) {
  std::vector<std::string> seen;
  auto r = make_router(seen);
  EXPECT_EQ(run(r, beast_http::verb::get, "/api/services").result_int(), 200u);
  EXPECT_EQ(run(r, beast_http::verb::post, "/api/services").result_int(), 200u);
  run(r, beast_http::verb::get, "/api/services/orders?q=a%20b");
  run(r, beast_http::verb::delete_, "/api/services/my%2Dsvc/id-1");
  run(r, beast_http::verb::put, "/proxy/orders/api/x/y?z=1");
  run(r, beast_http::verb::get, "/proxy/orders");
  EXPECT_EQ(seen,
            (std::vector<std::string>{
                "list", "register", "get name=orders q=a b",
                "del name=my-svc id=id-1", "proxy name=orders rest=/api/x/y",
                "proxy name=orders rest=/"}));
}

TEST(router, unknown_paths_are_404_and_wrong_methods_405) {
  std::vector<std::string> seen;
  auto r = make_router(seen);
  auto res = run(r, beast_http::verb::get, "/nope");
  EXPECT_EQ(res.result_int(), 404u);
  auto j = nlohmann::json::parse(res.body());
  EXPECT_EQ(j["error"]["code"], "not_found");
  res = run(r, beast_http::verb::patch, "/api/services");
  EXPECT_EQ(res.result_int(), 405u);
  EXPECT_EQ(res[beast_http::field::allow], "GET, HEAD, POST");
  EXPECT_EQ(nlohmann::json::parse(res.body())["error"]["code"],
            "method_not_allowed");
  EXPECT_TRUE(seen.empty());
}

TEST(router, head_is_served_by_get_routes) {
  std::vector<std::string> seen;
  auto r = make_router(seen);
  EXPECT_EQ(run(r, beast_http::verb::head, "/api/services").result_int(), 200u);
  EXPECT_EQ(seen, (std::vector<std::string>{"list"}));
}

TEST(router, malformed_escapes_are_400) {
  std::vector<std::string> seen;
  auto r = make_router(seen);
  EXPECT_EQ(run(r, beast_http::verb::get, "/api/services/%zz").result_int(),
            400u);
  EXPECT_TRUE(seen.empty());
}

TEST(router, percent_decoding) {
  EXPECT_EQ(percent_decode("a%20b"), "a b");
  EXPECT_EQ(percent_decode("a+b", true), "a b");
  EXPECT_EQ(percent_decode("a+b"), "a+b");
  EXPECT_FALSE(percent_decode("%"));
  EXPECT_FALSE(percent_decode("%4"));
  EXPECT_FALSE(percent_decode("%g0"));
}

TEST(responder, a_dropped_responder_answers_500) {
  response out;
  {
    responder r{[&](response&& res) { out = std::move(res); }, 11, true};
  }
  EXPECT_EQ(out.result_int(), 500u);
}

TEST(responder, only_the_first_answer_counts) {
  int calls = 0;
  responder r{[&](response&&) { ++calls; }, 11, true};
  r(make_json_response(200, "{}", 11));
  r(make_json_response(201, "{}", 11));
  EXPECT_EQ(calls, 1);
}

TEST(router, event_ids_are_plain_64_bit_numbers) {
  EXPECT_EQ(parse_event_id("0"), 0u);
  EXPECT_EQ(parse_event_id("42"), 42u);
  EXPECT_EQ(parse_event_id("18446744073709551615"), UINT64_MAX);
  EXPECT_FALSE(parse_event_id("18446744073709551616"));   // one past 2^64-1
  EXPECT_FALSE(parse_event_id("000000000000000000001"));  // 21 digits
  EXPECT_FALSE(parse_event_id(""));
  EXPECT_FALSE(parse_event_id("-1"));  // strtoull read this as 2^64-1
  EXPECT_FALSE(parse_event_id("+1"));
  EXPECT_FALSE(parse_event_id(" 1"));
  EXPECT_FALSE(parse_event_id("1 "));
  EXPECT_FALSE(parse_event_id("soon"));
}

// Routes are looked up by the path's first segment; those that start with
// a parameter or `*` are candidates for every path, and registration order
// still decides between routes of different first segments.
TEST(router, first_segment_lookup_keeps_registration_order) {
  std::vector<std::string> seen;
  router r;
  auto record = [&seen](std::string tag) {
    return [&seen, tag](request_context&& rc, responder done) {
      std::string line = tag;
      for (auto& [k, v] : rc.params) line += " " + k + "=" + v;
      seen.push_back(line);
      done(make_json_response(200, "{}", 11));
    };
  };
  r.add(beast_http::verb::get, "/a/x", record("a-get"));
  r.add(beast_http::verb::post, "/:p/x", record("p-post"));
  r.add(beast_http::verb::get, "/b/x", record("b-get"));  // after "/:p/x"
  r.any("/*", record("root-any"));
  r.add(beast_http::verb::get, "/c", record("c-get"));  // after "/*"
  run(r, beast_http::verb::get, "/a/x");
  run(r, beast_http::verb::post, "/a/x");
  run(r, beast_http::verb::post, "/b/x");
  run(r, beast_http::verb::get, "/b/x");
  run(r, beast_http::verb::get, "/c");
  run(r, beast_http::verb::get, "/");
  run(r, beast_http::verb::delete_, "/zzz/x");
  EXPECT_EQ(seen, (std::vector<std::string>{"a-get", "p-post p=a", "p-post p=b",
                                            "b-get", "root-any", "root-any",
                                            "root-any"}));
}

TEST(router, a_path_of_another_method_lists_every_allowed_one) {
  std::vector<std::string> seen;
  router r;
  auto ok = [](request_context&&, responder done) {
    done(make_json_response(200, "{}", 11));
  };
  r.add(beast_http::verb::get, "/a/x", ok);
  r.add(beast_http::verb::post, "/:p/x", ok);
  r.add(beast_http::verb::delete_, "/a/:id", ok);
  auto res = run(r, beast_http::verb::put, "/a/x");
  EXPECT_EQ(res.result_int(), 405u);
  EXPECT_EQ(res[beast_http::field::allow], "GET, HEAD, POST, DELETE");
  EXPECT_EQ(run(r, beast_http::verb::put, "/b/x")[beast_http::field::allow],
            "POST");
  EXPECT_EQ(run(r, beast_http::verb::get, "/b/y").result_int(), 404u);
}
