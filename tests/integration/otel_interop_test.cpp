// Interoperability with OpenTelemetry's own W3C Trace Context code: a
// Node.js upstream (tests/otel/upstream.js, the OpenTelemetry JS SDK pinned
// by tests/otel/package-lock.json and installed by the `otel.npm_ci` test)
// extracts the context valmesh sent and reports its parent, which must be
// valmesh's client span; and valmesh continues a traceparent and
// tracestate that the OpenTelemetry propagator produced.

#include <csignal>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"
#include "tests/support/tracing_support.hpp"

using namespace valmesh;
using namespace valmesh::test;
using json = nlohmann::json;

namespace {

const std::string script = VALMESH_SOURCE_DIR "/tests/otel/upstream.js";

std::map<std::string, std::string> node_env() {
  return {{"NODE_PATH", VALMESH_OTEL_DEPS "/node_modules"}};
}

/// The Node upstream, started through the shell so `node` is found on PATH.
struct otel_upstream {
  std::unique_ptr<process> proc;
  uint16_t port = 0;

  static otel_upstream start() {
    otel_upstream u;
    u.proc = process::start({"/bin/sh", "-c", "exec node \"$0\" serve", script},
                            node_env());
    auto m =
        u.proc ? u.proc->wait_for(std::regex{R"(listening on \S+:(\d+))"}, 20s)
               : std::nullopt;
    if (!m) {
      ADD_FAILURE() << "the OpenTelemetry upstream did not start (is node "
                       "installed and did otel.npm_ci run?):\n"
                    << (u.proc ? u.proc->out() + u.proc->err() : "");
      return u;
    }
    u.port = static_cast<uint16_t>(std::stoi((*m)[1]));
    return u;
  }
};

/// An agent with the Node upstream registered as `otel`.
agent start_agent(const otel_upstream& u) {
  auto cfg = write_temp_config(
      "otel", {{"services", json::array({{{"name", "otel"},
                                          {"id", "otel-1"},
                                          {"host", "127.0.0.1"},
                                          {"port", u.port}}})}});
  auto a = agent::start({"--config", cfg, "--health-interval", "1s"});
  EXPECT_TRUE(await_passing(a, "otel", 1));
  return a;
}

}  // namespace

TEST(otel_interop, the_sdk_extracts_valmesh_client_span_as_its_parent) {
  auto u = otel_upstream::start();
  ASSERT_TRUE(u.proc && u.port);
  auto a = start_agent(u);
  auto r = http(a.http(), "GET", "/proxy/otel/work", {},
                {{"tracestate", "ignored=1"}});  // no traceparent: a new root
  ASSERT_EQ(r.status, 200u) << r.body;
  auto seen = parse(r);
  ASSERT_TRUE(seen["extracted"].is_object())
      << "the propagator rejected valmesh's traceparent: " << seen.dump();
  auto trace = seen["extracted"]["traceId"].get<std::string>();
  auto spans = await_spans(a, trace, 2);
  ASSERT_EQ(spans.size(), 2u) << spans.dump();
  auto client = span_of_kind(spans, "client");
  EXPECT_EQ(seen["extracted"]["spanId"], client["spanId"]);
  EXPECT_EQ(seen["extracted"]["traceFlags"], 1);
  EXPECT_EQ(seen["extracted"]["isRemote"], true);
  // The SDK's own span is a child of valmesh's client span.
  EXPECT_EQ(seen["sdkSpan"]["parentSpanId"], client["spanId"]);
  EXPECT_EQ(seen["sdkSpan"]["traceId"], trace);
  // Without a valid traceparent the client's tracestate was dropped.
  EXPECT_TRUE(seen["received"]["tracestate"].is_null()) << seen.dump();
  EXPECT_EQ(a.proc->stop(SIGTERM), 0);
  EXPECT_EQ(u.proc->stop(SIGTERM), 0);
}

TEST(otel_interop, valmesh_continues_a_context_the_propagator_produced) {
  auto injected =
      run({"/bin/sh", "-c", "exec node \"$0\" inject", script}, node_env());
  ASSERT_EQ(injected.exit_code, 0) << injected.err;
  auto j = json::parse(injected.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << injected.out;
  auto tp = j["headers"]["traceparent"].get<std::string>();
  auto ts = j["headers"]["tracestate"].get<std::string>();
  auto trace = j["traceId"].get<std::string>();
  auto sdk_span = j["spanId"].get<std::string>();

  auto u = otel_upstream::start();
  ASSERT_TRUE(u.proc && u.port);
  auto a = start_agent(u);
  auto r = http(a.http(), "GET", "/proxy/otel/continue", {},
                {{"traceparent", tp}, {"tracestate", ts}});
  ASSERT_EQ(r.status, 200u) << r.body;
  auto spans = await_spans(a, trace, 2);
  ASSERT_EQ(spans.size(), 2u) << spans.dump();
  auto server = span_of_kind(spans, "server");
  auto client = span_of_kind(spans, "client");
  EXPECT_EQ(server["parentSpanId"], sdk_span);
  EXPECT_EQ(client["parentSpanId"], server["spanId"]);
  // And the upstream's propagator sees the same trace, valmesh's client
  // span as parent, and the tracestate members kept in order.
  auto seen = parse(r);
  EXPECT_EQ(seen["extracted"]["traceId"], trace);
  EXPECT_EQ(seen["extracted"]["spanId"], client["spanId"]);
  EXPECT_EQ(seen["extracted"]["traceState"], ts);
  EXPECT_EQ(a.proc->stop(SIGTERM), 0);
  EXPECT_EQ(u.proc->stop(SIGTERM), 0);
}
