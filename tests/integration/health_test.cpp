// Health checking against real valmesh-echo instances: each transition
// appears within interval + timeout, the roll-up follows SPEC §3a, dead
// instances are removed, and an SSE client sees exactly the events, in
// order, and resumes with Last-Event-ID.

#include <csignal>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"

using namespace valmesh;
using namespace valmesh::test;
using json = nlohmann::json;

namespace {

/// Writes a config with a fast health interval and returns its path.
std::string write_health_config(const std::string& name, json health,
                                json extra = json::object()) {
  auto path = ::testing::TempDir() + "/" + name + ".json";
  json cfg = {{"health", std::move(health)}};
  cfg.update(extra);
  std::ofstream{path} << cfg.dump();
  return path;
}

void register_instance(const agent& a, const std::string& service,
                       const std::string& id, uint16_t port,
                       const std::string& endpoint = "/health") {
  json j = {{"name", service},
            {"id", id},
            {"host", "127.0.0.1"},
            {"port", port},
            {"healthEndpoint", endpoint}};
  ASSERT_EQ(http(a.http(), "POST", "/api/services", j.dump()).status, 201u);
}

void control(const echo& e, const json& body) {
  ASSERT_EQ(http({"127.0.0.1", e.port}, "POST", "/control", body.dump()).status,
            200u);
}

/// One parsed server-sent event.
struct sse_event {
  uint64_t id = 0;
  std::string type;
  json data;
};

std::vector<sse_event> parse_events(const std::string& bytes) {
  std::vector<sse_event> out;
  auto body = bytes.find("\r\n\r\n");
  if (body == std::string::npos) return out;
  size_t pos = body + 4;
  for (;;) {
    auto end = bytes.find("\n\n", pos);
    if (end == std::string::npos) break;
    auto block = bytes.substr(pos, end - pos);
    pos = end + 2;
    if (block.rfind(":", 0) == 0) continue;  // a comment (keep-alive)
    sse_event e;
    std::istringstream lines{block};
    std::string line;
    while (std::getline(lines, line)) {
      if (line.rfind("id: ", 0) == 0) e.id = std::stoull(line.substr(4));
      if (line.rfind("event: ", 0) == 0) e.type = line.substr(7);
      if (line.rfind("data: ", 0) == 0) e.data = json::parse(line.substr(6));
    }
    out.push_back(std::move(e));
  }
  return out;
}

/// Reads from an SSE connection until `pred` holds for the events so far.
template <class Pred>
std::vector<sse_event> read_events_until(raw_connection& c, Pred pred,
                                         std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<sse_event> events;
  while (std::chrono::steady_clock::now() < deadline) {
    events = parse_events(c.read_available(50ms));
    if (pred(events)) break;
  }
  return events;
}

raw_connection open_events(uint16_t port, uint64_t last_event_id = 0) {
  raw_connection c{port};
  std::string req = "GET /api/events HTTP/1.1\r\nHost: x\r\n";
  if (last_event_id > 0)
    req += "Last-Event-ID: " + std::to_string(last_event_id) + "\r\n";
  c.send(req + "\r\n");
  return c;
}

}  // namespace

TEST(health, transitions_follow_the_instance) {
  auto e = echo::start("orders-echo");
  ASSERT_TRUE(e.proc);
  // interval 300ms, timeout 200ms: each transition within 2 * (interval +
  // timeout) for the two failures that make an instance critical.
  auto a = agent::start(
      {"--config", write_health_config("transitions", {{"interval", "300ms"},
                                                       {"timeout", "200ms"}})});
  ASSERT_TRUE(a.proc);
  // The slow endpoint is an echo path, which the echo's delay applies to.
  register_instance(a, "orders", "orders-1", e.port, "/check");
  auto started = std::chrono::steady_clock::now();
  ASSERT_TRUE(a.proc->wait_for(
      std::regex{"orders/orders-1 is passing \\(was unknown\\)"}, 3s))
      << a.proc->out();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1500ms);
  EXPECT_EQ(parse(http(a.http(), "GET",
                       "/api/services/orders/resolve?healthyOnly=true"))["id"],
            "orders-1");

  control(e, {{"delayMs", 400}});  // slower than the timeout
  ASSERT_TRUE(a.proc->wait_for(
      std::regex{
          "orders/orders-1 is critical \\(was passing\\): timeout after 200ms"},
      3s))
      << a.proc->out();
  EXPECT_EQ(
      http(a.http(), "GET", "/api/services/orders/resolve?healthyOnly=true")
          .status,
      503u);

  control(e, {{"delayMs", 0}});
  ASSERT_TRUE(a.proc->wait_for(
      std::regex{"orders/orders-1 is passing \\(was critical\\)"}, 3s));

  control(e, {{"status", 500}});  // failing
  ASSERT_TRUE(a.proc->wait_for(
      std::regex{"orders/orders-1 is critical \\(was passing\\): HTTP 500"},
      3s));
  control(e, {{"status", 429}});  // Consul's warning
  ASSERT_TRUE(a.proc->wait_for(
      std::regex{"orders/orders-1 is warning \\(was critical\\)"}, 3s));
  EXPECT_EQ(parse(http(a.http(), "GET",
                       "/api/services/orders/resolve?healthyOnly=true"))["id"],
            "orders-1");
  control(e, {{"status", 0}});
  ASSERT_TRUE(a.proc->wait_for(
      std::regex{"orders/orders-1 is passing \\(was warning\\)"}, 3s));

  EXPECT_EQ(e.proc->stop(SIGKILL), 128 + SIGKILL);  // killed
  ASSERT_TRUE(
      a.proc->wait_for(std::regex{"orders/orders-1 is critical \\(was "
                                  "passing\\): connect: Connection refused"},
                       3s))
      << a.proc->out();

  auto checks = parse(http(a.http(), "GET", "/api/health/services"));
  auto& x = checks["services"]["orders"]["instances"][0];
  EXPECT_EQ(x["id"], "orders-1");
  EXPECT_EQ(x["status"], "critical");
  EXPECT_GE(x.value("checks", 0), 8);
  EXPECT_GE(x.value("failures", 0), 6);
  EXPECT_GT(x.value("successRate", 0.0), 0.0);
  EXPECT_LT(x.value("successRate", 1.0), 1.0);
  EXPECT_EQ(x["lastError"], "connect: Connection refused");
  EXPECT_TRUE(x["p99DurationMs"].is_number());
  EXPECT_TRUE(checks["services"]["orders"]["checkLatenessP99Ms"].is_number());
  auto inst =
      parse(http(a.http(), "GET", "/api/services/orders"))["instances"][0];
  EXPECT_EQ(inst["lastCheck"]["output"], "connect: Connection refused");
  EXPECT_EQ(a.proc->stop(SIGTERM), 0);
}

TEST(health, the_aggregate_follows_spec_3a) {
  auto e1 = echo::start();
  auto e2 = echo::start();
  ASSERT_TRUE(e1.proc && e2.proc);
  auto a = agent::start(
      {"--config",
       write_health_config(
           "aggregate", {{"interval", "200ms"},
                         {"timeout", "200ms"},
                         {"failuresBeforeCritical", 1},
                         {"services", {{"payments", {{"critical", true}}}}}})});
  ASSERT_TRUE(a.proc);
  register_instance(a, "orders", "orders-1", e1.port);
  register_instance(a, "orders", "orders-2", e2.port);
  register_instance(a, "payments", "payments-1", e1.port);
  auto aggregated = [&] {
    return parse(http(a.http(), "GET", "/api/health/aggregated"));
  };
  auto wait_overall = [&](const std::string& want) {
    return eventually([&] { return aggregated()["overall"] == want; }, 3s);
  };
  ASSERT_TRUE(a.proc->wait_for(std::regex{"orders/orders-1 is passing"}, 3s));
  ASSERT_TRUE(a.proc->wait_for(std::regex{"orders/orders-2 is passing"}, 3s));
  ASSERT_TRUE(
      a.proc->wait_for(std::regex{"payments/payments-1 is passing"}, 3s));
  EXPECT_TRUE(wait_overall("healthy")) << aggregated().dump();
  auto j = aggregated();
  EXPECT_EQ(j["services"]["orders"]["status"], "healthy");
  EXPECT_EQ(j["services"]["payments"]["critical"], true);
  EXPECT_TRUE(j["checkedAt"].is_string());

  control(e2, {{"healthStatus", 500}});  // half of orders fails
  ASSERT_TRUE(a.proc->wait_for(std::regex{"orders/orders-2 is critical"}, 3s));
  EXPECT_TRUE(wait_overall("degraded"));
  EXPECT_EQ(aggregated()["services"]["orders"]["status"], "degraded");
  EXPECT_EQ(aggregated()["services"]["orders"]["instances"]["critical"], 1);

  control(e1, {{"healthStatus", 500}});  // the critical service fails
  ASSERT_TRUE(
      a.proc->wait_for(std::regex{"payments/payments-1 is critical"}, 3s));
  EXPECT_TRUE(wait_overall("unhealthy"));
  EXPECT_EQ(aggregated()["services"]["payments"]["status"], "unhealthy");

  // The CLI prints the same.
  auto r = run_valmesh({"health", "--addr", a.addr()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("overall: unhealthy"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("payments"), std::string::npos);
  r = run_valmesh({"health", "--services", "--addr", a.addr()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("orders-2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("HTTP 500"), std::string::npos) << r.out;
  EXPECT_EQ(a.proc->stop(SIGTERM), 0);
}

TEST(health, a_dead_instance_is_removed_after_deregister_critical_after) {
  auto a = agent::start(
      {"--config",
       write_health_config("removal", {{"interval", "200ms"},
                                       {"timeout", "200ms"},
                                       {"deregisterCriticalAfter", "1s"}})});
  ASSERT_TRUE(a.proc);
  register_instance(a, "orders", "dead-1", 1);  // nothing listens on port 1
  ASSERT_TRUE(a.proc->wait_for(std::regex{"orders/dead-1 is critical"}, 3s));
  ASSERT_TRUE(a.proc->wait_for(std::regex{"removed orders/dead-1"}, 4s))
      << a.proc->out();
  EXPECT_EQ(http(a.http(), "GET", "/api/services/orders").status, 404u);
  // Its checker is gone too.
  EXPECT_EQ(parse(http(a.http(), "GET", "/api/health/services"))["services"],
            json::object());
  EXPECT_EQ(a.proc->stop(SIGTERM), 0);
}

TEST(events, an_sse_client_sees_every_event_in_order_and_resumes) {
  auto e = echo::start();
  ASSERT_TRUE(e.proc);
  auto a = agent::start(
      {"--config",
       write_health_config("events", {{"interval", "200ms"},
                                      {"timeout", "200ms"},
                                      {"failuresBeforeCritical", 1}})});
  ASSERT_TRUE(a.proc);
  auto sse = open_events(a.http_port);
  ASSERT_TRUE(sse.connected());
  // Register only once the stream is subscribed, or events could pass it by.
  ASSERT_TRUE(eventually([&] {
    return parse(http(a.http(), "GET", "/health"))
               .value("eventSubscribers", 0) == 1;
  }));
  register_instance(a, "orders", "orders-1", e.port);
  auto events = read_events_until(
      sse, [](auto& xs) { return xs.size() >= 6; }, 5s);
  std::vector<std::string> types;
  for (auto& x : events) types.push_back(x.type);
  EXPECT_EQ(types, (std::vector<std::string>{
                       "registered", "service_health_changed",
                       "overall_changed", "health_changed",
                       "service_health_changed", "overall_changed"}));
  ASSERT_EQ(events.size(), 6u);
  for (size_t i = 1; i < events.size(); ++i)
    EXPECT_EQ(events[i].id, events[i - 1].id + 1);
  EXPECT_EQ(events[0].data["id"], "orders-1");
  EXPECT_EQ(events[1].data["to"], "unhealthy");  // one unknown instance
  EXPECT_EQ(events[3].data["from"], "unknown");
  EXPECT_EQ(events[3].data["to"], "passing");
  EXPECT_EQ(events[4].data["to"], "healthy");
  EXPECT_EQ(events[5].data["to"], "healthy");

  // A second client resumes after the first health event: it gets the rest.
  auto resumed = open_events(a.http_port, events[3].id);
  auto replay = read_events_until(
      resumed, [](auto& xs) { return xs.size() >= 2; }, 3s);
  ASSERT_EQ(replay.size(), 2u);
  EXPECT_EQ(replay[0].id, events[4].id);
  EXPECT_EQ(replay[1].id, events[5].id);

  // Deregistration reaches both.
  ASSERT_EQ(http(a.http(), "DELETE", "/api/services/orders/orders-1").status,
            204u);
  auto more = read_events_until(
      sse, [](auto& xs) { return xs.size() >= 7; }, 3s);
  ASSERT_GE(more.size(), 7u);
  EXPECT_EQ(more[6].type, "deregistered");
  EXPECT_EQ(more[6].data["reason"], "deregistered");
  auto more2 = read_events_until(
      resumed, [](auto& xs) { return xs.size() >= 3; }, 3s);
  ASSERT_GE(more2.size(), 3u);
  EXPECT_EQ(more2[2].type, "deregistered");
  EXPECT_EQ(a.proc->stop(SIGTERM), 0);
}

TEST(events, idle_streams_get_keep_alive_comments) {
  auto a = agent::start(
      {"--config", write_health_config("keepalive", {{"interval", "1s"}},
                                       {{"events_keepalive", "200ms"}})});
  ASSERT_TRUE(a.proc);
  auto sse = open_events(a.http_port);
  std::string bytes;
  eventually(
      [&] {
        bytes = sse.read_available(100ms);
        return bytes.find(": keep-alive") != std::string::npos;
      },
      3s);
  EXPECT_NE(bytes.find("HTTP/1.1 200"), std::string::npos) << bytes;
  EXPECT_NE(bytes.find("Content-Type: text/event-stream"), std::string::npos)
      << bytes;
  EXPECT_NE(bytes.find(": keep-alive"), std::string::npos) << bytes;
  EXPECT_EQ(a.proc->stop(SIGTERM), 0);
}

TEST(events, a_bad_last_event_id_is_a_json_400) {
  auto a = agent::start();
  ASSERT_TRUE(a.proc);
  auto res =
      http(a.http(), "GET", "/api/events", "", {{"Last-Event-ID", "soon"}});
  EXPECT_EQ(res.status, 400u);
  EXPECT_EQ(parse(res)["error"]["code"], "invalid_argument");
  EXPECT_EQ(a.proc->stop(SIGTERM), 0);
}

TEST(events, a_stuck_subscriber_lags_without_slowing_others) {
  auto a = agent::start(
      {"--config", write_health_config("lag", {{"interval", "1h"}},
                                       {{"events_queue_limit", 8}})});
  ASSERT_TRUE(a.proc);
  auto fast = open_events(a.http_port);
  // The stuck client reads nothing and has a tiny receive window.
  raw_connection stuck{a.http_port, 2048};
  stuck.send("GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n");
  auto subscribers = [&] {
    return parse(http(a.http(), "GET", "/health")).value("eventSubscribers", 0);
  };
  ASSERT_TRUE(eventually([&] { return subscribers() == 2; }));
  constexpr int n = 400;
  // The reading client reads on its own thread while the registrations go.
  std::vector<sse_event> events;
  std::thread reader{[&] {
    events = read_events_until(
        fast,
        [](auto& xs) {
          return std::count_if(xs.begin(), xs.end(), [](auto& e) {
                   return e.type == "registered";
                 }) >= n;
        },
        20s);
  }};
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    json j = {{"name", "orders"},
              {"id", "o-" + std::to_string(i)},
              {"host", "127.0.0.1"},
              {"port", 6000},
              {"metadata", {{"pad", std::string(400, 'x')}}}};
    EXPECT_EQ(http(a.http(), "POST", "/api/services", j.dump()).status, 201u);
  }
  reader.join();
  // It got every registration, in order, though the other client read
  // nothing at all.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 20s);
  std::vector<uint64_t> ids;
  for (auto& e : events)
    if (e.type == "registered") ids.push_back(e.id);
  ASSERT_EQ(ids.size(), static_cast<size_t>(n));
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_GT(ids[i], ids[i - 1]);
  // Now the stuck one reads: what it got ends in a gap announced by `lagged`.
  auto lagged = read_events_until(
      stuck,
      [](auto& xs) {
        return std::any_of(xs.begin(), xs.end(),
                           [](auto& e) { return e.type == "lagged"; });
      },
      5s);
  auto l = std::find_if(lagged.begin(), lagged.end(),
                        [](auto& e) { return e.type == "lagged"; });
  ASSERT_NE(l, lagged.end());
  EXPECT_GT(l->data["dropped"].get<int>(), 0);
  // The drops are counted in `GET /metrics` too.
  auto text = http(a.http(), "GET", "/metrics").body;
  auto at = text.find("\nvalmesh_events_dropped_total ");
  ASSERT_NE(at, std::string::npos) << text;
  EXPECT_GE(std::stod(text.substr(text.find(' ', at + 1))),
            l->data["dropped"].get<double>());
  EXPECT_EQ(a.proc->stop(SIGTERM), 0);
}

TEST(events, a_client_that_disconnects_is_unsubscribed_at_once) {
  auto a = agent::start();
  ASSERT_TRUE(a.proc);
  auto subscribers = [&] {
    return parse(http(a.http(), "GET", "/health"))
        .value("eventSubscribers", -1);
  };
  {
    auto sse = open_events(a.http_port);
    ASSERT_TRUE(eventually([&] { return subscribers() == 1; }));
  }  // closed here
  auto closed_at = std::chrono::steady_clock::now();
  EXPECT_TRUE(eventually([&] { return subscribers() == 0; }, 1s));
  EXPECT_LT(std::chrono::steady_clock::now() - closed_at, 500ms);
  EXPECT_EQ(a.proc->stop(SIGTERM), 0);
}
