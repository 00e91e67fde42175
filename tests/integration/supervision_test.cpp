// The supervision tree seen from outside: `GET /api/actors`, `valmesh
// actors`, fault injection that crashes or stalls real actors of a running
// agent, restarts that rebuild state, escalation past the restart
// intensity, and graceful shutdown with requests in flight.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/mesh_fixture.hpp"
#include "tests/support/process.hpp"

using namespace valmesh;
using namespace valmesh::test;
using json = nlohmann::json;

namespace {

/// The node named `name` in a tree, depth first; null json if absent.
json find(const json& node, const std::string& name) {
  if (node.value("name", "") == name) return node;
  for (auto& c : node["children"]) {
    auto x = find(c, name);
    if (!x.is_null()) return x;
  }
  return nullptr;
}

json tree(const agent& a) {
  auto r = http(a.http(), "GET", "/api/actors");
  EXPECT_EQ(r.status, 200u) << r.body;
  return parse(r)["root"];
}

json actor(const agent& a, const std::string& name) {
  return find(tree(a), name);
}

web::client_response crash(const agent& a, const std::string& name) {
  return http(a.http(), "POST", "/api/debug/actors/" + name + "/crash");
}

/// Waits until `name` runs again with `restarts` restarts; returns it.
json await_restarted(const agent& a, const std::string& name, uint32_t restarts,
                     std::chrono::milliseconds t = 5s) {
  json x;
  eventually(
      [&] {
        x = actor(a, name);
        return !x.is_null() && x["state"] == "running" &&
               x["restarts"] == restarts;
      },
      t);
  return x;
}

bool connect_refused(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool refused =
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 &&
      errno == ECONNREFUSED;
  ::close(fd);
  return refused;
}

}  // namespace

TEST(supervision, the_tree_shows_every_actor_with_its_figures) {
  auto f = mesh_fixture::start("orders", 2);
  auto root = tree(f.node);
  EXPECT_EQ(root["name"], "node_supervisor");
  EXPECT_EQ(root["strategy"], "one_for_one");
  EXPECT_EQ(root["intensity"], 5);
  EXPECT_EQ(root["period"], "10s");
  std::vector<std::string> top;
  for (auto& c : root["children"]) top.push_back(c["name"]);
  EXPECT_EQ(top,
            (std::vector<std::string>{"store", "registry", "events", "bridge",
                                      "health_supervisor", "mesh_supervisor",
                                      "tracer", "cluster"}));
  for (auto name :
       {"registry", "health_aggregator", "health_checker/orders",
        "bulkhead/orders", "breaker/orders-0", "breaker/orders-1"}) {
    auto x = find(root, name);
    ASSERT_FALSE(x.is_null()) << name << " missing from " << root.dump(2);
    EXPECT_EQ(x["state"], "running") << name;
    EXPECT_EQ(x["restarts"], 0) << name;
    EXPECT_TRUE(x["lastFailure"].is_null()) << name;
    EXPECT_GT(x["id"].get<uint64_t>(), 0u) << name;
    EXPECT_GT(x["messagesHandled"].get<uint64_t>(), 0u) << name;
    EXPECT_GE(x["uptimeMs"].get<int64_t>(), 0) << name;
    EXPECT_TRUE(x["mailboxSize"].is_number()) << name;
  }
  EXPECT_EQ(find(root, "bulkhead/orders")["kind"], "bulkhead");
  EXPECT_EQ(find(root, "health_supervisor")["strategy"], "one_for_one");
  // The registry's count moves with the work it does.
  auto before = find(root, "registry")["messagesHandled"].get<uint64_t>();
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(http(f.node.http(), "GET", "/api/services").status, 200u);
  EXPECT_GE(actor(f.node, "registry")["messagesHandled"].get<uint64_t>(),
            before + 5);
}

TEST(supervision, the_cli_prints_a_table_and_a_tree) {
  auto a = agent::start();
  auto table = run_valmesh({"actors", "--addr", a.addr()});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("NAME"), std::string::npos);
  EXPECT_NE(table.out.find("registry"), std::string::npos);
  auto t = run_valmesh({"actors", "--tree", "--addr", a.addr()});
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_EQ(t.out.rfind("node_supervisor [running] one_for_one 5/10s", 0), 0u)
      << t.out;
  EXPECT_NE(t.out.find("|-- mesh_supervisor [running]"), std::string::npos)
      << t.out;
  auto j = run_valmesh({"actors", "--json", "--addr", a.addr()});
  ASSERT_EQ(j.exit_code, 0);
  EXPECT_EQ(json::parse(j.out)["root"]["name"], "node_supervisor");
}

TEST(supervision, fault_injection_is_off_unless_asked_for) {
  auto a = agent::start();
  auto r = crash(a, "registry");
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(error_code(r), "not_found");
  EXPECT_EQ(actor(a, "registry")["restarts"], 0);
}

TEST(supervision, bad_drill_requests_get_clear_errors_and_change_nothing) {
  auto a = agent::start({"--enable-fault-injection", "--token", "s3cret"});
  auto auth = std::vector<std::pair<std::string, std::string>>{
      {"Authorization", "Bearer s3cret"}};
  EXPECT_EQ(crash(a, "registry").status, 401u);
  auto post = [&](const std::string& target) {
    return http(a.http(), "POST", target, {}, auth);
  };
  EXPECT_EQ(error_code(post("/api/debug/actors/nobody/crash")), "not_found");
  EXPECT_EQ(error_code(post("/api/debug/actors/registry/explode")),
            "not_found");
  EXPECT_EQ(error_code(post("/api/debug/actors/node_supervisor/crash")),
            "conflict");
  for (auto q : {"", "?ms=0", "?ms=abc", "?ms=10001", "?ms=5x"})
    EXPECT_EQ(
        error_code(post(std::string{"/api/debug/actors/registry/stall"} + q)),
        "invalid_argument")
        << q;
  auto root = tree(a);
  EXPECT_EQ(find(root, "registry")["restarts"], 0);
  EXPECT_EQ(find(root, "registry")["state"], "running");
}

TEST(supervision, a_crashed_bulkhead_and_breaker_come_back_and_serve) {
  auto f = mesh_fixture::start("orders", 2, json::object(),
                               {"--enable-fault-injection"});
  auto old_bulkhead = actor(f.node, "bulkhead/orders")["id"];
  ASSERT_EQ(crash(f.node, "bulkhead/orders").status, 202u);
  auto b = await_restarted(f.node, "bulkhead/orders", 1);
  ASSERT_FALSE(b.is_null());
  EXPECT_NE(b["id"], old_bulkhead);
  EXPECT_NE(b["lastFailure"]["reason"].get<std::string>().find("fault"),
            std::string::npos);
  // Rebuilt with both instances: calls reach each of them again.
  std::set<std::string> seen;
  for (int i = 0; i < 6; ++i) {
    auto r = http(f.node.http(), "GET", "/proxy/orders/x");
    ASSERT_EQ(r.status, 200u) << r.body;
    seen.insert(header(r, "x-valmesh-instance"));
  }
  EXPECT_EQ(seen.size(), 2u);
  // A breaker: restarts closed; calls still flow.
  ASSERT_EQ(
      http(f.node.http(), "POST", "/api/debug/actors/breaker%2Forders-1/crash")
          .status,
      202u);
  ASSERT_FALSE(await_restarted(f.node, "breaker/orders-1", 1).is_null());
  EXPECT_EQ(http(f.node.http(), "GET", "/proxy/orders/x").status, 200u);
}

TEST(supervision, a_crashed_tracer_comes_back_with_the_spans_it_held) {
  auto f = mesh_fixture::start("orders", 1, json::object(),
                               {"--enable-fault-injection"});
  auto finished = [&] {
    auto j = parse(http(f.node.http(), "GET", "/api/tracing/stats"));
    return j["spansFinished"].get<int>();
  };
  ASSERT_EQ(http(f.node.http(), "GET", "/proxy/orders/x").status, 200u);
  ASSERT_TRUE(eventually([&] { return finished() == 2; }));
  ASSERT_EQ(crash(f.node, "tracer").status, 202u);
  ASSERT_FALSE(await_restarted(f.node, "tracer", 1).is_null());
  // The buffer belongs to the node: the new tracer answers from it, and
  // the next call's spans join the first call's.
  EXPECT_EQ(finished(), 2);
  ASSERT_EQ(http(f.node.http(), "GET", "/proxy/orders/x").status, 200u);
  ASSERT_TRUE(eventually([&] { return finished() == 4; }));
  auto spans = parse(http(f.node.http(), "GET", "/api/tracing/spans"));
  EXPECT_EQ(spans["spans"].size(), 4u) << spans.dump();
}

TEST(supervision, a_crashed_health_checker_comes_back_and_keeps_checking) {
  auto f = mesh_fixture::start("orders", 1, json::object(),
                               {"--enable-fault-injection"});
  auto checks = [&] {
    auto j = parse(http(f.node.http(), "GET", "/api/health/services"));
    return j["services"]["orders"]["instances"][0]["checks"].get<int>();
  };
  ASSERT_EQ(crash(f.node, "health_checker/orders").status, 202u);
  ASSERT_FALSE(await_restarted(f.node, "health_checker/orders", 1).is_null());
  // The new checker rebuilt its instance from the registry and checks it
  // (every second here).
  auto first = checks();
  EXPECT_TRUE(eventually([&] { return checks() > first; }, 5s));
}

TEST(supervision, a_stuck_actor_shows_as_unresponsive_and_the_tree_answers) {
  auto a = agent::start({"--enable-fault-injection"});
  ASSERT_EQ(
      http(a.http(), "POST", "/api/debug/actors/events/stall?ms=1500").status,
      202u);
  auto t0 = steady::now();
  auto root = tree(a);
  auto took = steady::now() - t0;
  EXPECT_EQ(find(root, "events")["state"], "unresponsive");
  EXPECT_EQ(find(root, "registry")["state"], "running");
  EXPECT_LT(took, 1s);
  // Once it is free again it answers.
  EXPECT_TRUE(
      eventually([&] { return actor(a, "events")["state"] == "running"; }, 5s));
}

TEST(supervision, crashes_past_the_intensity_escalate_to_the_parent) {
  auto f = mesh_fixture::start("orders", 1, json::object(),
                               {"--enable-fault-injection"});
  // mesh_supervisor allows 10 restarts in 10 s; the 11th crash makes it
  // give up, and node_supervisor restarts it (one_for_one), which rebuilds
  // the bulkhead and breaker from the registry.
  for (uint32_t i = 1; i <= 10; ++i) {
    ASSERT_EQ(crash(f.node, "breaker/orders-0").status, 202u);
    ASSERT_FALSE(await_restarted(f.node, "breaker/orders-0", i).is_null())
        << "restart " << i;
  }
  ASSERT_EQ(crash(f.node, "breaker/orders-0").status, 202u);
  auto sup = await_restarted(f.node, "mesh_supervisor", 1);
  ASSERT_FALSE(sup.is_null());
  EXPECT_NE(sup["lastFailure"]["reason"].get<std::string>().find("fault"),
            std::string::npos);
  auto breaker = find(sup, "breaker/orders-0");
  ASSERT_FALSE(breaker.is_null()) << sup.dump(2);
  EXPECT_EQ(breaker["restarts"], 0);  // a new supervisor, a new history
  EXPECT_TRUE(eventually([&] {
    return http(f.node.http(), "GET", "/proxy/orders/x").status == 200;
  }));
}

TEST(supervision, the_root_giving_up_stops_the_node_with_an_error) {
  auto a = agent::start({"--enable-fault-injection"});
  // node_supervisor: 5 restarts in 10 s, then it exits and so does the node.
  for (uint32_t i = 1; i <= 5; ++i) {
    ASSERT_EQ(crash(a, "events").status, 202u);
    ASSERT_FALSE(await_restarted(a, "events", i).is_null()) << i;
  }
  // The sixth crash stops the node, which may exit before its 202 is
  // written: a 202 or a connection closed unanswered are both right.
  ASSERT_FALSE(a.proc->wait(0ms)) << "the node stopped before the sixth crash";
  web::client_request last;
  last.method = "POST";
  last.target = "/api/debug/actors/events/crash";
  if (auto r = web::send_request(a.http(), last)) {
    EXPECT_EQ(r->status, 202u);
  }
  auto code = a.proc->wait(10s);
  ASSERT_TRUE(code.has_value()) << "the node kept running";
  EXPECT_EQ(*code, 1);
  EXPECT_NE(a.proc->out().find("node_supervisor gave up"), std::string::npos)
      << a.proc->out();
}

TEST(supervision, shutdown_drains_calls_in_flight_and_refuses_new_ones) {
  auto f =
      mesh_fixture::start("slow", 1, json::object(), {"--drain-timeout", "5s"});
  control(f.echoes[0], {{"delayMs", 1000}});
  auto call = std::async(std::launch::async, [&] {
    return http(f.node.http(), "GET", "/proxy/slow/work");
  });
  ASSERT_TRUE(f.await_in_flight(1));
  auto t0 = steady::now();
  ::kill(f.node.proc->pid(), SIGTERM);
  // The listener closes at once: new connections are refused.
  EXPECT_TRUE(
      eventually([&] { return connect_refused(f.node.http_port); }, 900ms));
  auto r = call.get();
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(header(r, "connection"), "close");
  auto code = f.node.proc->wait(10s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0);
  EXPECT_LT(steady::now() - t0, 5s + 1s);
}

TEST(supervision, the_drain_timeout_bounds_shutdown) {
  auto f = mesh_fixture::start("stuck", 1, json::object(),
                               {"--drain-timeout", "500ms"});
  control(f.echoes[0], {{"delayMs", 4000}});
  // The call is cut off with the process: a transport error, not a test
  // failure.
  auto call = std::async(std::launch::async, [&] {
    web::client_request req;
    req.target = "/proxy/stuck/work";
    return web::send_request(f.node.http(), req).has_value();
  });
  ASSERT_TRUE(f.await_in_flight(1));
  auto t0 = steady::now();
  ::kill(f.node.proc->pid(), SIGTERM);
  auto code = f.node.proc->wait(10s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0);
  EXPECT_LT(steady::now() - t0, 500ms + 1s);
  EXPECT_NE(f.node.proc->out().find("still in flight"), std::string::npos)
      << f.node.proc->out();
  EXPECT_FALSE(call.get());  // no answer: the connection went with the node
}

// A call cut off by the drain timeout on every loop: a connection's session
// on the last loop holds the mesh, and the mesh every loop's upstream
// connections and timers. The node drops all loops' pending handlers before
// it destroys any loop; the sanitizer build fails this test otherwise.
TEST(supervision, calls_cut_off_on_every_loop_end_cleanly) {
  constexpr int loops = 3;
  auto f = mesh_fixture::start(
      "stuck", 1, json::object(),
      {"--drain-timeout", "300ms", "--http-threads", std::to_string(loops)});
  control(f.echoes[0], {{"delayMs", 4000}});
  // Connections go to the loops in turn: these calls land on every loop.
  std::vector<std::future<bool>> calls;
  for (int i = 0; i < loops; ++i)
    calls.push_back(std::async(std::launch::async, [&] {
      web::client_request req;
      req.target = "/proxy/stuck/work";
      return web::send_request(f.node.http(), req).has_value();
    }));
  ASSERT_TRUE(f.await_in_flight(loops));
  ::kill(f.node.proc->pid(), SIGTERM);
  auto code = f.node.proc->wait(10s);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0) << f.node.proc->out();
  for (auto& c : calls) EXPECT_FALSE(c.get());
}

TEST(supervision, health_answers_draining_on_open_connections) {
  auto f =
      mesh_fixture::start("slow", 1, json::object(), {"--drain-timeout", "5s"});
  control(f.echoes[0], {{"delayMs", 1500}});
  raw_connection keep{f.node.http_port};
  ASSERT_TRUE(keep.connected());
  keep.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_NE(keep.read_responses(1).find("200 OK"), std::string::npos);
  auto call = std::async(std::launch::async, [&] {
    return http(f.node.http(), "GET", "/proxy/slow/work");
  });
  ASSERT_TRUE(f.await_in_flight(1));
  ::kill(f.node.proc->pid(), SIGTERM);
  ASSERT_TRUE(
      eventually([&] { return connect_refused(f.node.http_port); }, 900ms));
  // A keep-alive connection opened before the signal still gets answers,
  // and /health tells the client to go elsewhere.
  keep.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
  auto all = keep.read_responses(2);  // the buffer keeps the first answer
  auto bytes = all.substr(std::min(all.find("HTTP/1.1", 1), all.size()));
  EXPECT_NE(bytes.find("503 Service Unavailable"), std::string::npos) << bytes;
  EXPECT_NE(bytes.find("\"draining\""), std::string::npos) << bytes;
  EXPECT_NE(bytes.find("Connection: close"), std::string::npos) << bytes;
  EXPECT_TRUE(keep.wait_closed(2s).has_value());
  EXPECT_EQ(call.get().status, 200u);
  EXPECT_EQ(f.node.proc->wait(10s), 0);
}

TEST(supervision,
     a_crashed_registry_is_back_at_once_and_loses_no_acknowledged_instance) {
  auto a = agent::start({"--enable-fault-injection"});
  std::atomic<bool> stop{false};
  std::mutex mtx;
  std::set<std::string> acknowledged;
  std::atomic<int> answered{0}, unavailable{0}, other{0};
  auto client = [&](int k) {
    for (int i = 0; !stop.load(); ++i) {
      auto id = "c" + std::to_string(k) + "-" + std::to_string(i);
      json x = {{"name", "orders"},
                {"id", id},
                {"host", "127.0.0.1"},
                {"port", 7000 + i % 1000}};
      web::client_request req;
      req.method = "POST";
      req.target = "/api/services";
      req.body = x.dump();
      req.timeout = 2s;  // a hung request fails the test
      auto r = web::send_request(a.http(), req);
      ASSERT_TRUE(r.has_value()) << r.error().message;
      if (r->status == 201) {
        std::lock_guard<std::mutex> guard{mtx};
        acknowledged.insert(id);
      } else if (r->status == 503 && r->headers.count("retry-after") == 1) {
        ++unavailable;
      } else {
        ++other;
        ADD_FAILURE() << r->status << " " << r->body;
      }
      req.method = "GET";
      req.target = "/api/services/orders/resolve";
      req.body.clear();
      r = web::send_request(a.http(), req);
      ASSERT_TRUE(r.has_value()) << r.error().message;
      EXPECT_TRUE(r->status == 200 || r->status == 503) << r->body;
      ++answered;
    }
  };
  std::thread c1{client, 1}, c2{client, 2};
  ASSERT_TRUE(eventually([&] { return answered.load() >= 50; }));
  ASSERT_EQ(crash(a, "registry").status, 202u);
  auto t0 = steady::now();
  // Back: a read answers again, from a new registry incarnation.
  ASSERT_TRUE(eventually(
      [&] { return http(a.http(), "GET", "/api/services").status == 200; },
      2s));
  auto back = steady::now() - t0;
  auto seen = answered.load();
  ASSERT_TRUE(eventually([&] { return answered.load() >= seen + 50; }));
  stop = true;
  c1.join();
  c2.join();
  EXPECT_LT(back, 100ms)
      << std::chrono::duration_cast<std::chrono::milliseconds>(back).count()
      << " ms";
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(await_restarted(a, "registry", 1)["restarts"], 1);
  auto j = parse(http(a.http(), "GET", "/api/services/orders"));
  std::set<std::string> stored;
  for (auto& x : j["instances"]) stored.insert(x["id"]);
  for (auto& id : acknowledged)
    EXPECT_EQ(stored.count(id), 1u) << "acknowledged " << id << " is missing";
  EXPECT_GT(acknowledged.size(), 50u);
}
