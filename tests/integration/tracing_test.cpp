// Tracing against real agents and valmesh-echo upstreams (SPEC §5): one
// trace through two hops with the right parent links and attributes, a
// client span per attempt, unsampled and disabled tracing, the spans and
// stats endpoints, the bounded buffer, OTLP export to a receiver started by
// the test, `valmesh spans`, and the C++ API of an embedded node.

#include <csignal>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "node/node.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tracing_support.hpp"

using namespace valmesh;
using namespace valmesh::test;
using json = nlohmann::json;

namespace {

using steady = std::chrono::steady_clock;

constexpr const char* incoming_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr const char* incoming_parent = "00f067aa0ba902b7";

std::string incoming(const char* flags = "01") {
  return std::string{"00-"} + incoming_trace + "-" + incoming_parent + "-" +
         flags;
}

/// An agent in front of one valmesh-echo registered as `service`.
struct single_hop {
  echo upstream;
  agent node;

  static single_hop start(std::vector<std::string> flags = {},
                          json tracing = json::object()) {
    single_hop h;
    h.upstream = echo::start("e0");
    json services = json::array({{{"name", "orders"},
                                  {"id", "orders-1"},
                                  {"host", "127.0.0.1"},
                                  {"port", h.upstream.port}}});
    json cfg = {{"services", services}};
    if (!tracing.empty()) cfg["tracing"] = tracing;
    flags.insert(flags.end(), {"--config", write_temp_config("hop", cfg),
                               "--health-interval", "1s"});
    h.node = agent::start(flags);
    EXPECT_TRUE(await_passing(h.node, "orders", 1));
    return h;
  }
};

std::string header(const web::client_response& r, const std::string& name) {
  auto i = r.headers.find(name);
  return i == r.headers.end() ? std::string{} : i->second;
}

json stats(const agent& a) {
  return parse(http(a.http(), "GET", "/api/tracing/stats"));
}

}  // namespace

TEST(tracing, a_call_through_two_hops_keeps_one_trace_and_links_parents) {
  auto e = echo::start("end");
  // B proxies `echo` to the echo; A proxies `b-gateway` to B's own port.
  auto b_cfg = write_temp_config(
      "hop-b", {{"services", json::array({{{"name", "echo"},
                                           {"id", "echo-1"},
                                           {"host", "127.0.0.1"},
                                           {"port", e.port}}})}});
  auto b = agent::start(
      {"--config", b_cfg, "--health-interval", "1s", "--node-name", "b"});
  auto a_cfg = write_temp_config(
      "hop-a", {{"services", json::array({{{"name", "b-gateway"},
                                           {"id", "b-1"},
                                           {"host", "127.0.0.1"},
                                           {"port", b.http_port},
                                           {"healthEndpoint", "/health"}}})}});
  auto a = agent::start(
      {"--config", a_cfg, "--health-interval", "1s", "--node-name", "a"});
  ASSERT_TRUE(await_passing(b, "echo", 1));
  ASSERT_TRUE(await_passing(a, "b-gateway", 1));

  auto r = http(a.http(), "GET", "/proxy/b-gateway/proxy/echo/x?q=1", {},
                {{"traceparent", incoming()},
                 {"tracestate", "congo=t61rcWkgMzE"},
                 {"X-Correlation-ID", "corr-2hops"}});
  ASSERT_EQ(r.status, 200u) << r.body;
  auto seen = parse(r);
  EXPECT_EQ(seen["path"], "/x");
  auto upstream_tp = seen["headers"]["traceparent"].get<std::string>();
  EXPECT_EQ(seen["headers"]["tracestate"], "congo=t61rcWkgMzE");

  auto a_spans = await_spans(a, incoming_trace, 2);
  auto b_spans = await_spans(b, incoming_trace, 2);
  ASSERT_EQ(a_spans.size(), 2u) << a_spans.dump();
  ASSERT_EQ(b_spans.size(), 2u) << b_spans.dump();
  auto a_server = span_of_kind(a_spans, "server");
  auto a_client = span_of_kind(a_spans, "client");
  auto b_server = span_of_kind(b_spans, "server");
  auto b_client = span_of_kind(b_spans, "client");
  for (auto* s : {&a_server, &a_client, &b_server, &b_client})
    EXPECT_EQ((*s)["traceId"], incoming_trace);
  // A server → A client → B server → B client → the echo.
  EXPECT_EQ(a_server["parentSpanId"], incoming_parent);
  EXPECT_EQ(a_client["parentSpanId"], a_server["spanId"]);
  EXPECT_EQ(b_server["parentSpanId"], a_client["spanId"]);
  EXPECT_EQ(b_client["parentSpanId"], b_server["spanId"]);
  EXPECT_EQ(upstream_tp, std::string{"00-"} + incoming_trace + "-" +
                             b_client["spanId"].get<std::string>() + "-01");

  // The attributes of SPEC §5 / docs/ARCHITECTURE.md.
  auto& sa = a_server["attributes"];
  EXPECT_EQ(a_server["name"], "GET /proxy/b-gateway/*");
  EXPECT_EQ(sa["http.request.method"], "GET");
  EXPECT_EQ(sa["http.route"], "/proxy/:name/*");
  EXPECT_EQ(sa["http.response.status_code"], 200);
  EXPECT_EQ(sa["valmesh.service"], "b-gateway");
  EXPECT_EQ(sa["valmesh.correlation_id"], "corr-2hops");
  EXPECT_EQ(sa["valmesh.attempts"], 1);
  EXPECT_EQ(a_server["status"]["code"], "ok");
  auto& ca = a_client["attributes"];
  EXPECT_EQ(a_client["name"], "GET b-gateway");
  EXPECT_EQ(ca["valmesh.instance"], "b-1");
  EXPECT_EQ(ca["valmesh.attempt"], 1);
  EXPECT_EQ(ca["valmesh.breaker_state"], "closed");
  EXPECT_EQ(ca["valmesh.correlation_id"], "corr-2hops");
  EXPECT_EQ(ca["server.address"], "127.0.0.1");
  EXPECT_EQ(ca["server.port"], b.http_port);
  EXPECT_EQ(ca["http.response.status_code"], 200);
  EXPECT_EQ(ca["url.path"], "/proxy/echo/x");
  EXPECT_EQ(b_server["attributes"]["valmesh.service"], "echo");
  EXPECT_EQ(b_server["attributes"]["valmesh.correlation_id"], "corr-2hops");
  EXPECT_EQ(b_client["attributes"]["valmesh.instance"], "echo-1");
  // Times are plausible: the client span lies within its server span.
  EXPECT_LE(a_server["startTimeUnixNano"], a_client["startTimeUnixNano"]);
  EXPECT_GE(a_server["endTimeUnixNano"], a_client["endTimeUnixNano"]);
  EXPECT_EQ(a_server["traceState"], "congo=t61rcWkgMzE");

  // The service filter matches valmesh.service.
  auto only_echo =
      parse(http(b.http(), "GET", "/api/tracing/spans?service=echo"));
  EXPECT_EQ(only_echo["spans"].size(), 2u);
  auto none = parse(http(a.http(), "GET", "/api/tracing/spans?service=echo"));
  EXPECT_TRUE(none["spans"].empty());
  EXPECT_EQ(a.proc->stop(SIGTERM), 0);
  EXPECT_EQ(b.proc->stop(SIGTERM), 0);
}

TEST(tracing, every_attempt_is_a_client_span_under_the_server_span) {
  auto e0 = echo::start("e0"), e1 = echo::start("e1");
  auto cfg = write_temp_config(
      "retry", {{"services", json::array({{{"name", "pay"},
                                           {"id", "pay-0"},
                                           {"host", "127.0.0.1"},
                                           {"port", e0.port}},
                                          {{"name", "pay"},
                                           {"id", "pay-1"},
                                           {"host", "127.0.0.1"},
                                           {"port", e1.port}}})},
                {"policies", {{"pay", {{"retryDelay", "1ms"}}}}}});
  auto a = agent::start({"--config", cfg, "--health-interval", "1s"});
  ASSERT_TRUE(await_passing(a, "pay", 2));
  ASSERT_EQ(http({"127.0.0.1", e1.port}, "POST", "/control",
                 json{{"status", 503}}.dump())
                .status,
            200u);
  // Round robin: within two calls one starts on the failing instance.
  std::string trace;
  for (int i = 0; i < 4 && trace.empty(); ++i) {
    auto r = http(a.http(), "GET", "/proxy/pay/x");
    ASSERT_EQ(r.status, 200u);
    if (header(r, "x-valmesh-attempts") == "2")
      trace =
          parse(r)["headers"]["traceparent"].get<std::string>().substr(3, 32);
  }
  ASSERT_FALSE(trace.empty()) << "no call was retried";
  auto spans = await_spans(a, trace, 3);
  ASSERT_EQ(spans.size(), 3u) << spans.dump();
  auto server = span_of_kind(spans, "server");
  EXPECT_TRUE(server["parentSpanId"].is_null());
  EXPECT_EQ(server["attributes"]["valmesh.attempts"], 2);
  std::map<int64_t, json> by_attempt;
  for (auto& s : spans)
    if (s["kind"] == "client") {
      EXPECT_EQ(s["parentSpanId"], server["spanId"]);
      by_attempt[s["attributes"]["valmesh.attempt"].get<int64_t>()] = s;
    }
  ASSERT_EQ(by_attempt.size(), 2u);
  EXPECT_EQ(by_attempt[1]["attributes"]["valmesh.instance"], "pay-1");
  EXPECT_EQ(by_attempt[1]["attributes"]["http.response.status_code"], 503);
  EXPECT_EQ(by_attempt[1]["status"]["code"], "error");
  EXPECT_EQ(by_attempt[2]["attributes"]["valmesh.instance"], "pay-0");
  EXPECT_EQ(by_attempt[2]["status"]["code"], "ok");
  EXPECT_EQ(a.proc->stop(SIGTERM), 0);
}

TEST(tracing, an_unsampled_request_propagates_flags_00_and_records_nothing) {
  auto h = single_hop::start();
  auto r = http(h.node.http(), "GET", "/proxy/orders/x", {},
                {{"traceparent", incoming("00")}});
  ASSERT_EQ(r.status, 200u);
  auto tp = parse(r)["headers"]["traceparent"].get<std::string>();
  EXPECT_EQ(tp.substr(0, 36), std::string{"00-"} + incoming_trace + "-");
  EXPECT_NE(tp.substr(36, 16), incoming_parent);  // valmesh's own client span
  EXPECT_EQ(tp.substr(52), "-00");
  auto s = stats(h.node);
  EXPECT_EQ(s["spansStarted"], 2);
  EXPECT_EQ(s["spansSampled"], 0);
  EXPECT_EQ(s["spansFinished"], 0);
  EXPECT_EQ(s["sampler"], "parent-based");
}

TEST(tracing, sampler_never_and_no_tracing) {
  auto never = single_hop::start({"--trace-sampler", "never"});
  auto r = http(never.node.http(), "GET", "/proxy/orders/x");
  auto tp = parse(r)["headers"]["traceparent"].get<std::string>();
  EXPECT_EQ(tp.size(), 55u);
  EXPECT_EQ(tp.substr(52), "-00");
  EXPECT_EQ(stats(never.node)["spansSampled"], 0);

  auto off = single_hop::start({"--no-tracing"});
  auto passed = http(off.node.http(), "GET", "/proxy/orders/x", {},
                     {{"traceparent", incoming()}, {"tracestate", "a=1"}});
  auto body = parse(passed);
  auto& hs = body["headers"];
  EXPECT_EQ(hs["traceparent"], incoming());  // untouched
  EXPECT_EQ(hs["tracestate"], "a=1");
  auto s = stats(off.node);
  EXPECT_EQ(s["enabled"], false);
  EXPECT_EQ(s["spansStarted"], 0);
}

TEST(tracing, an_invalid_traceparent_starts_a_new_trace_without_tracestate) {
  auto h = single_hop::start();
  auto r = http(h.node.http(), "GET", "/proxy/orders/x", {},
                {{"traceparent", "00-00000000000000000000000000000000-" +
                                     std::string{incoming_parent} + "-01"},
                 {"tracestate", "a=1"}});
  auto body = parse(r);
  auto& hs = body["headers"];
  auto tp = hs["traceparent"].get<std::string>();
  EXPECT_NE(tp.substr(3, 32), "00000000000000000000000000000000");
  EXPECT_EQ(tp.substr(52), "-01");  // a root under parent-based ratio 1.0
  EXPECT_FALSE(hs.contains("tracestate"));
  auto spans = await_spans(h.node, tp.substr(3, 32), 2);
  ASSERT_EQ(spans.size(), 2u);
  EXPECT_TRUE(span_of_kind(spans, "server")["parentSpanId"].is_null());
}

TEST(tracing, the_spans_endpoint_limits_filters_and_rejects_bad_queries) {
  auto h = single_hop::start({"--trace-buffer", "3"});
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(http(h.node.http(), "GET", "/proxy/orders/x").status, 200u);
  ASSERT_TRUE(eventually([&] { return stats(h.node)["spansFinished"] == 6; }));
  auto s = stats(h.node);
  EXPECT_EQ(s["bufferCapacity"], 3);
  EXPECT_EQ(s["bufferSize"], 3);
  EXPECT_EQ(s["spansDropped"], 3);
  EXPECT_EQ(s["spansSampled"], 6);
  auto one = parse(http(h.node.http(), "GET", "/api/tracing/spans?limit=1"));
  ASSERT_EQ(one["spans"].size(), 1u);
  // Newest first: the last call's server span ended last.
  EXPECT_EQ(one["spans"][0]["kind"], "server");
  for (auto bad :
       {"limit=abc", "limit=0", "limit=-1", "limit=100001", "traceId=xyz",
        "traceId=00000000000000000000000000000000", "service=bad%20name"}) {
    auto r =
        http(h.node.http(), "GET", std::string{"/api/tracing/spans?"} + bad);
    EXPECT_EQ(r.status, 400u) << bad;
    EXPECT_EQ(parse(r)["error"]["code"], "invalid_argument") << bad;
  }
  // An upper-case trace id is the same id.
  auto any = one["spans"][0]["traceId"].get<std::string>();
  std::string upper = any;
  for (auto& c : upper) c = static_cast<char>(std::toupper(c));
  auto same =
      parse(http(h.node.http(), "GET", "/api/tracing/spans?traceId=" + upper));
  EXPECT_FALSE(same["spans"].empty());
}

TEST(tracing, export_delivers_valid_otlp_json_and_retries) {
  http_receiver receiver{1};  // the first request fails with 503
  auto h = single_hop::start(
      {}, {{"otlpEndpoint", "http://127.0.0.1:" +
                                std::to_string(receiver.port()) + "/v1/traces"},
           {"exportInterval", "50ms"}});
  auto r = http(h.node.http(), "GET", "/proxy/orders/x", {},
                {{"traceparent", incoming()}});
  ASSERT_EQ(r.status, 200u);
  auto body = receiver.next_body(10s);
  ASSERT_TRUE(body) << "nothing was exported";
  EXPECT_EQ(receiver.last_path(), "/v1/traces");
  EXPECT_GE(receiver.requests(), 2);  // the 503 was retried
  auto j = json::parse(*body, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << *body;
  auto& rs = j["resourceSpans"].at(0);
  bool named = false;
  for (auto& a : rs["resource"]["attributes"])
    named |=
        a["key"] == "service.name" && a["value"]["stringValue"] == "valmesh";
  EXPECT_TRUE(named) << rs["resource"].dump();
  auto& spans = rs["scopeSpans"].at(0)["spans"];
  ASSERT_EQ(spans.size(), 2u) << body->substr(0, 2000);
  std::set<int> kinds;
  for (auto& s : spans) {
    EXPECT_EQ(s["traceId"], incoming_trace);
    EXPECT_EQ(s["spanId"].get<std::string>().size(), 16u);
    EXPECT_TRUE(s["startTimeUnixNano"].is_string());
    EXPECT_TRUE(s["endTimeUnixNano"].is_string());
    EXPECT_GT(std::stoll(s["endTimeUnixNano"].get<std::string>()),
              std::stoll(s["startTimeUnixNano"].get<std::string>()));
    EXPECT_TRUE(s["kind"].is_number_integer());
    kinds.insert(s["kind"].get<int>());
    EXPECT_EQ(s["status"]["code"], 1);  // OK
    for (auto& a : s["attributes"]) {
      ASSERT_TRUE(a.contains("key"));
      auto& v = a["value"];
      EXPECT_TRUE(v.contains("stringValue") || v.contains("intValue") ||
                  v.contains("doubleValue") || v.contains("boolValue"))
          << a.dump();
      if (v.contains("intValue")) {
        EXPECT_TRUE(v["intValue"].is_string());
      }
    }
  }
  EXPECT_EQ(kinds, (std::set<int>{2, 3}));  // SERVER and CLIENT
  ASSERT_TRUE(eventually(
      [&] { return stats(h.node)["export"]["exportedSpans"] == 2; }));
  // The spans went to the export and into the buffer once each.
  auto all = stats(h.node);
  EXPECT_EQ(all["spansFinished"], 2);
  EXPECT_EQ(all["bufferSize"], 2);
  auto e = all["export"];
  EXPECT_EQ(e["enabled"], true);
  EXPECT_EQ(e["exportedBatches"], 1);
  EXPECT_GE(e["retries"], 1);
  EXPECT_EQ(e["failedBatches"], 0);
}

TEST(tracing, shutdown_exports_the_spans_still_waiting) {
  http_receiver receiver;
  // An hour-long export interval: only the shutdown's flush sends them.
  auto h = single_hop::start(
      {"--drain-timeout", "5s"},
      {{"otlpEndpoint",
        "http://127.0.0.1:" + std::to_string(receiver.port()) + "/v1/traces"},
       {"exportInterval", "1h"}});
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(http(h.node.http(), "GET", "/proxy/orders/x", {},
                   {{"traceparent", incoming()}})
                  .status,
              200u);
  ASSERT_TRUE(
      eventually([&] { return stats(h.node)["export"]["queuedSpans"] == 6; }));
  EXPECT_EQ(receiver.requests(), 0);
  auto t0 = steady::now();
  ::kill(h.node.proc->pid(), SIGTERM);
  auto code = h.node.proc->wait(10s);
  ASSERT_TRUE(code.has_value()) << "the node kept running";
  EXPECT_EQ(*code, 0) << h.node.proc->out();
  EXPECT_LT(steady::now() - t0, 5s + 1s);
  size_t exported = 0;
  while (auto body = receiver.next_body(0ms)) {
    auto j = json::parse(*body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << *body;
    for (auto& s : j["resourceSpans"].at(0)["scopeSpans"].at(0)["spans"]) {
      EXPECT_EQ(s["traceId"], incoming_trace);
      ++exported;
    }
  }
  EXPECT_EQ(exported, 6u);  // three calls: a server and a client span each
  EXPECT_NE(h.node.proc->out().find("export flushed (6 span(s) exported"),
            std::string::npos)
      << h.node.proc->out();
}

TEST(tracing,
     shutdown_does_not_wait_past_the_drain_timeout_for_a_dead_receiver) {
  // Nothing listens on port 1: every export attempt is refused and
  // retried, and the flush gives up at the deadline.
  int port = 1;
  auto h = single_hop::start(
      {"--drain-timeout", "500ms"},
      {{"otlpEndpoint",
        "http://127.0.0.1:" + std::to_string(port) + "/v1/traces"},
       {"exportInterval", "1h"},
       {"exportMaxRetries", 100}});
  ASSERT_EQ(http(h.node.http(), "GET", "/proxy/orders/x").status, 200u);
  ASSERT_TRUE(
      eventually([&] { return stats(h.node)["export"]["queuedSpans"] == 2; }));
  auto t0 = steady::now();
  ::kill(h.node.proc->pid(), SIGTERM);
  auto code = h.node.proc->wait(10s);
  ASSERT_TRUE(code.has_value()) << "the node kept running";
  EXPECT_EQ(*code, 0) << h.node.proc->out();
  EXPECT_LT(steady::now() - t0, 500ms + 1s);
  EXPECT_NE(h.node.proc->out().find("still waiting for export"),
            std::string::npos)
      << h.node.proc->out();
}

TEST(tracing, a_bad_tracing_config_exits_2_naming_the_key) {
  auto r = run_valmesh({"agent", "--dev", "--http", "127.0.0.1:0", "--cluster",
                        "127.0.0.1:0", "--trace-sampler", "sometimes"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("tracing.sampler"), std::string::npos) << r.err;
  auto cfg = write_temp_config("bad-tracing",
                               {{"tracing", {{"otlpEndpoint", "ftp://x"}}}});
  auto f = run_valmesh({"agent", "--dev", "--config", cfg});
  EXPECT_EQ(f.exit_code, 2);
  EXPECT_NE(f.err.find("tracing.otlpEndpoint"), std::string::npos) << f.err;
}

TEST(tracing, valmesh_spans_prints_a_table_json_and_a_trace_tree) {
  auto h = single_hop::start();
  ASSERT_EQ(http(h.node.http(), "GET", "/proxy/orders/x", {},
                 {{"traceparent", incoming()}})
                .status,
            200u);
  auto spans = await_spans(h.node, incoming_trace, 2);
  ASSERT_EQ(spans.size(), 2u);
  auto server = span_of_kind(spans, "server");
  auto client = span_of_kind(spans, "client");
  auto addr = h.node.addr();
  auto table = run_valmesh({"spans", "--addr", addr});
  EXPECT_EQ(table.exit_code, 0) << table.err;
  for (auto col :
       {"TRACE", "SPAN", "NAME", "KIND", "SERVICE", "STATUS", "DURATION"})
    EXPECT_NE(table.out.find(col), std::string::npos) << col;
  EXPECT_NE(table.out.find(server["spanId"].get<std::string>()),
            std::string::npos);
  // Newest first: the server span's line comes before the client's.
  EXPECT_LT(table.out.find(server["spanId"].get<std::string>()),
            table.out.find(client["spanId"].get<std::string>()));
  auto limited =
      run_valmesh({"spans", "--addr", addr, "--limit", "1", "--json"});
  EXPECT_EQ(limited.exit_code, 0);
  EXPECT_EQ(json::parse(limited.out)["spans"].size(), 1u);
  auto tree = run_valmesh({"spans", "--addr", addr, "--trace", incoming_trace});
  EXPECT_EQ(tree.exit_code, 0) << tree.err;
  // The client span is indented one level under the server span.
  auto server_line = "  GET /proxy/orders/* [server]";
  auto client_line = "    GET orders [client]";
  EXPECT_NE(tree.out.find(server_line), std::string::npos) << tree.out;
  EXPECT_NE(tree.out.find(client_line), std::string::npos) << tree.out;
  EXPECT_LT(tree.out.find(server_line), tree.out.find(client_line));
  EXPECT_NE(tree.out.find("ms"), std::string::npos);
  // Exit codes: usage 2, unknown trace 1, unreachable 3.
  EXPECT_EQ(run_valmesh({"spans", "--addr", addr, "--trace", "xyz"}).exit_code,
            2);
  EXPECT_EQ(run_valmesh({"spans", "--addr", addr, "--limit", "0"}).exit_code,
            2);
  EXPECT_EQ(run_valmesh({"spans", "--addr", addr, "--trace",
                         "0af7651916cd43dd8448eb211c80319c"})
                .exit_code,
            1);
  EXPECT_EQ(run_valmesh({"spans", "--addr", "http://127.0.0.1:1"}).exit_code,
            3);
}

TEST(tracing, the_cpp_api_and_call_service_make_one_trace) {
  auto e = echo::start("embedded");
  auto cfg = default_config();
  cfg.http = {"127.0.0.1", 0};
  cfg.cluster = {"127.0.0.1", 0};
  cfg.dev = true;
  cfg.health.interval = std::chrono::seconds{1};
  service_instance x;
  x.name = "stock";
  x.id = "stock-1";
  x.host = "127.0.0.1";
  x.port = e.port;
  cfg.services.push_back(x);
  node n{cfg};
  ASSERT_FALSE(n.start());
  agent view;  // the node's HTTP API, for the helpers
  view.http_port = n.http_port();
  ASSERT_TRUE(await_passing(view, "stock", 1));
  std::string trace, outer_id;
  std::string upstream_tp;
  {
    // The original system's startSpan(name, {tags}) ... finish('success').
    scoped_span order{n.tracer().start_span(
        "place order",
        {{"valmesh.service", "shop"}, {"order.id", int64_t{42}}})};
    trace = order->context().trace.to_hex();
    outer_id = order->context().span.to_hex();
    call_options opts;
    opts.path = "/reserve";
    auto r = n.call_service("stock", opts);
    ASSERT_TRUE(r) << r.error().message;
    upstream_tp =
        json::parse(r->body)["headers"]["traceparent"].get<std::string>();
    header_list out;
    tracer::inject(order.get(), out);  // injectContext(span, headers)
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].second, "00-" + trace + "-" + outer_id + "-01");
    order->finish("success");
  }
  auto spans = await_spans(view, trace, 3);
  ASSERT_EQ(spans.size(), 3u) << spans.dump();
  json outer, call, client;
  for (auto& s : spans) {
    if (s["name"] == "place order") outer = s;
    if (s["name"] == "call stock") call = s;
    if (s["kind"] == "client") client = s;
  }
  EXPECT_EQ(outer["status"]["code"], "ok");
  EXPECT_EQ(outer["attributes"]["order.id"], 42);
  EXPECT_EQ(call["kind"], "internal");
  EXPECT_EQ(call["parentSpanId"], outer_id);
  EXPECT_EQ(client["parentSpanId"], call["spanId"]);
  EXPECT_EQ(upstream_tp,
            "00-" + trace + "-" + client["spanId"].get<std::string>() + "-01");
  n.stop();
}
