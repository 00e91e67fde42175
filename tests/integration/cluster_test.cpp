// The cluster with real `valmesh` processes on loopback: membership, the
// catalog on every node, failure detection (kill -9, SIGSTOP), a graceful
// leave, catching up after a restart, and the commands.

#include <signal.h>

#include <filesystem>
#include <set>

#include <gtest/gtest.h>

#include "tests/support/process.hpp"

using namespace valmesh;
using namespace valmesh::test;
using json = nlohmann::json;

namespace {

/// A node of a test cluster: its agent and its name.
struct node_under_test {
  std::string name;
  agent a;
};

std::string cluster_addr(const agent& a) {
  return "127.0.0.1:" + std::to_string(a.cluster_port);
}

/// Starts `n` nodes named n0..n(n-1); each joins through the first.
std::vector<node_under_test> start_cluster(
    size_t n, std::vector<std::string> extra = {}) {
  std::vector<node_under_test> xs;
  for (size_t i = 0; i < n; ++i) {
    auto name = "n" + std::to_string(i);
    std::vector<std::string> flags{"--node-name", name};
    if (i > 0) {
      flags.push_back("--join");
      flags.push_back(cluster_addr(xs.front().a));
    }
    flags.insert(flags.end(), extra.begin(), extra.end());
    xs.push_back({name, agent::start(flags)});
  }
  return xs;
}

/// The members a node reports, by name -> status.
std::map<std::string, std::string> members_of(const agent& a) {
  std::map<std::string, std::string> result;
  auto res = http(a.http(), "GET", "/api/cluster/members");
  if (res.status != 200) return result;
  auto j = json::parse(res.body, nullptr, false);
  if (j.is_discarded()) return result;
  for (auto& m : j["members"]) result[m["name"]] = m["status"];
  return result;
}

bool all_alive(const std::vector<node_under_test>& xs, const agent& a) {
  auto ms = members_of(a);
  for (auto& x : xs)
    if (ms[x.name] != "alive") return false;
  return true;
}

json instance(const std::string& name, const std::string& id, int port) {
  return {{"name", name}, {"id", id}, {"host", "127.0.0.1"}, {"port", port}};
}

/// A digest of a node's whole catalog: every instance's id, service and
/// revision, sorted (what must be equal on every node).
std::string catalog_digest_of(const agent& a) {
  auto list = http(a.http(), "GET", "/api/services");
  if (list.status != 200) return "unreachable";
  std::set<std::string> lines;
  auto services = json::parse(list.body);
  for (auto& s : services["services"]) {
    auto one =
        http(a.http(), "GET", "/api/services/" + s["name"].get<std::string>());
    if (one.status != 200) continue;
    auto body = json::parse(one.body);
    for (auto& x : body["instances"])
      lines.insert(x["name"].get<std::string>() + "/" +
                   x["id"].get<std::string>() + "@" +
                   std::to_string(x["revision"].get<uint64_t>()) + ":" +
                   x["origin"].get<std::string>());
  }
  std::string d;
  for (auto& l : lines) d += l + "\n";
  return d;
}

bool has_instance(const agent& a, const std::string& name,
                  const std::string& id) {
  auto res = http(a.http(), "GET", "/api/services/" + name);
  if (res.status != 200) return false;
  auto body = json::parse(res.body);
  for (auto& x : body["instances"])
    if (x["id"] == id) return true;
  return false;
}

}  // namespace

TEST(cluster, three_nodes_join_and_know_each_other) {
  auto start = std::chrono::steady_clock::now();
  auto xs = start_cluster(3);
  for (auto& x : xs)
    EXPECT_TRUE(eventually([&] { return all_alive(xs, x.a); }, 5s))
        << x.name << " sees " << json(members_of(x.a)).dump();
  auto took = std::chrono::steady_clock::now() - start;
  std::cout
      << "3 nodes started and joined in "
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
      << " ms\n";
  // The members endpoint: SPEC's shape.
  auto j = parse(http(xs[1].a.http(), "GET", "/api/cluster/members"));
  EXPECT_EQ(j["self"], "n1");
  ASSERT_EQ(j["members"].size(), 3u);
  for (auto& m : j["members"]) {
    for (auto key : {"name", "clusterAddr", "httpAddr", "status", "lastSeen",
                     "incarnation", "version"})
      EXPECT_TRUE(m.contains(key)) << key;
  }
}

TEST(cluster, a_write_on_one_node_is_on_every_node) {
  auto xs = start_cluster(3);
  ASSERT_TRUE(eventually([&] { return all_alive(xs, xs[2].a); }, 5s));
  auto res = http(xs[0].a.http(), "POST", "/api/services",
                  instance("orders", "orders-1", 7001).dump());
  ASSERT_EQ(res.status, 201u) << res.body;
  for (auto& x : xs)
    EXPECT_TRUE(
        eventually([&] { return has_instance(x.a, "orders", "orders-1"); }, 2s))
        << x.name;
  auto on_b = parse(http(xs[1].a.http(), "GET", "/api/services/orders"));
  EXPECT_EQ(on_b["instances"][0]["node"], "n0")
      << "owned by the node that took it";
  // `origin` is the node of the last write: n0's registration, unless the
  // instance's first health check (by whichever member owns it) already
  // wrote its status.
  if (on_b["instances"][0]["status"] == "unknown")
    EXPECT_EQ(on_b["instances"][0]["origin"], "n0");
  else
    EXPECT_TRUE(on_b["instances"][0]["origin"] == "n0" ||
                on_b["instances"][0]["origin"] == "n1" ||
                on_b["instances"][0]["origin"] == "n2")
        << on_b.dump();
  // A deregistration on another node removes it everywhere.
  res = http(xs[2].a.http(), "DELETE", "/api/services/orders/orders-1");
  ASSERT_EQ(res.status, 204u) << res.body;
  for (auto& x : xs)
    EXPECT_TRUE(eventually(
        [&] { return !has_instance(x.a, "orders", "orders-1"); }, 2s))
        << x.name;
}

TEST(cluster, concurrent_writes_on_every_node_end_equal) {
  auto xs = start_cluster(3);
  ASSERT_TRUE(eventually([&] { return all_alive(xs, xs[2].a); }, 5s));
  // Each node takes writes to the same ids and to ids of its own, at once.
  std::vector<std::thread> writers;
  for (size_t i = 0; i < xs.size(); ++i)
    writers.emplace_back([&, i] {
      for (int k = 0; k < 30; ++k) {
        auto shared = instance("pay", "pay-" + std::to_string(k % 5),
                               8000 + static_cast<int>(i));
        http(xs[i].a.http(), "POST", "/api/services", shared.dump());
        auto own = instance(
            "pay", "pay-" + xs[i].name + "-" + std::to_string(k), 9000 + k);
        http(xs[i].a.http(), "POST", "/api/services", own.dump());
        if (k % 3 == 0)
          http(xs[i].a.http(), "DELETE",
               "/api/services/pay/pay-" + xs[i].name + "-" + std::to_string(k));
      }
    });
  for (auto& t : writers) t.join();
  std::string d0;
  EXPECT_TRUE(eventually(
      [&] {
        d0 = catalog_digest_of(xs[0].a);
        return d0 == catalog_digest_of(xs[1].a) &&
               d0 == catalog_digest_of(xs[2].a);
      },
      10s))
      << "n0:\n"
      << d0 << "n1:\n"
      << catalog_digest_of(xs[1].a);
  // 5 shared ids + 3 nodes x (30 - 10 deleted) own ids.
  auto j = parse(http(xs[1].a.http(), "GET", "/api/services/pay"));
  EXPECT_EQ(j["instances"].size(), 5u + 3u * 20u);
}

TEST(cluster, a_killed_node_turns_suspect_then_dead) {
  auto xs = start_cluster(3);
  ASSERT_TRUE(eventually([&] { return all_alive(xs, xs[0].a); }, 5s));
  ASSERT_TRUE(eventually([&] { return all_alive(xs, xs[1].a); }, 5s));
  auto killed_at = std::chrono::steady_clock::now();
  ::kill(xs[2].a.proc->pid(), SIGKILL);
  xs[2].a.proc->wait(5s);
  EXPECT_TRUE(
      eventually([&] { return members_of(xs[0].a)["n2"] == "dead"; }, 5s));
  auto took = std::chrono::steady_clock::now() - killed_at;
  std::cout
      << "kill -9 -> dead on n0 in "
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
      << " ms\n";
  EXPECT_LT(took, 3s) << "the documented bound for a crashed node";
  EXPECT_TRUE(
      eventually([&] { return members_of(xs[1].a)["n2"] == "dead"; }, 2s));
  EXPECT_EQ(members_of(xs[0].a)["n1"], "alive");
}

TEST(cluster, a_stopped_node_is_detected_and_comes_back) {
  auto xs = start_cluster(3);
  ASSERT_TRUE(eventually([&] { return all_alive(xs, xs[0].a); }, 5s));
  ASSERT_TRUE(eventually([&] { return all_alive(xs, xs[2].a); }, 5s));
  auto pid = xs[2].a.proc->pid();
  auto stopped_at = std::chrono::steady_clock::now();
  ::kill(pid, SIGSTOP);
  EXPECT_TRUE(
      eventually([&] { return members_of(xs[0].a)["n2"] == "dead"; }, 8s));
  auto took = std::chrono::steady_clock::now() - stopped_at;
  std::cout
      << "SIGSTOP -> dead on n0 in "
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
      << " ms\n";
  EXPECT_LT(took, 5s) << "the documented bound for a hung node";
  // Writes while it is stopped...
  ASSERT_EQ(http(xs[0].a.http(), "POST", "/api/services",
                 instance("late", "late-1", 7100).dump())
                .status,
            201u);
  ::kill(pid, SIGCONT);
  // ...it refutes its death, is alive again everywhere, and catches up.
  EXPECT_TRUE(
      eventually([&] { return members_of(xs[0].a)["n2"] == "alive"; }, 8s));
  EXPECT_TRUE(
      eventually([&] { return has_instance(xs[2].a, "late", "late-1"); }, 8s));
}

TEST(cluster, sigterm_leaves_instead_of_dying) {
  auto xs = start_cluster(3);
  ASSERT_TRUE(eventually([&] { return all_alive(xs, xs[0].a); }, 5s));
  ASSERT_TRUE(eventually([&] { return all_alive(xs, xs[1].a); }, 5s));
  auto rc = xs[2].a.proc->stop(SIGTERM);
  ASSERT_TRUE(rc);
  EXPECT_EQ(*rc, 0);
  // Announced before it stopped: `left` is there at once, never `dead`.
  EXPECT_EQ(members_of(xs[0].a)["n2"], "left");
  EXPECT_EQ(members_of(xs[1].a)["n2"], "left");
}

TEST(cluster, a_restarted_node_catches_up_with_what_it_missed) {
  namespace fs = std::filesystem;
  auto dir = fs::temp_directory_path() /
             ("valmesh-cluster-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  auto a = agent::start({"--node-name", "a"});
  auto b_dir = (dir / "b").string();
  auto b = agent::start_durable(
      b_dir, {"--node-name", "b", "--join", cluster_addr(a)});
  ASSERT_TRUE(eventually([&] { return members_of(a)["b"] == "alive"; }, 5s));
  ASSERT_EQ(http(b.http(), "POST", "/api/services",
                 instance("keep", "keep-1", 7200).dump())
                .status,
            201u);
  ASSERT_EQ(http(a.http(), "POST", "/api/services",
                 instance("gone", "gone-1", 7201).dump())
                .status,
            201u);
  ASSERT_TRUE(
      eventually([&] { return has_instance(b, "gone", "gone-1"); }, 2s));
  auto first_incarnation =
      json::parse(http(a.http(), "GET", "/api/cluster/members").body);
  ASSERT_EQ(b.proc->stop(SIGKILL).value_or(-1), 128 + SIGKILL);
  // While b is down: a new write, and a deletion of what b holds.
  ASSERT_EQ(http(a.http(), "POST", "/api/services",
                 instance("new", "new-1", 7202).dump())
                .status,
            201u);
  ASSERT_EQ(http(a.http(), "DELETE", "/api/services/gone/gone-1").status, 204u);
  auto b2 = agent::start_durable(
      b_dir, {"--node-name", "b", "--join", cluster_addr(a)});
  EXPECT_TRUE(eventually(
      [&] { return catalog_digest_of(a) == catalog_digest_of(b2); }, 5s))
      << "a:\n"
      << catalog_digest_of(a) << "b:\n"
      << catalog_digest_of(b2);
  EXPECT_TRUE(has_instance(b2, "new", "new-1"));
  EXPECT_TRUE(has_instance(b2, "keep", "keep-1"));
  EXPECT_FALSE(has_instance(b2, "gone", "gone-1"))
      << "no deleted instance comes back";
  EXPECT_TRUE(eventually([&] { return members_of(a)["b"] == "alive"; }, 5s));
  b2.proc->stop(SIGTERM);
  fs::remove_all(dir);
  (void)first_incarnation;
}

TEST(cluster, five_nodes_join) {
  auto xs = start_cluster(5);
  for (auto& x : xs)
    EXPECT_TRUE(eventually([&] { return all_alive(xs, x.a); }, 5s)) << x.name;
}

TEST(cluster, commands_members_join_and_actors_of_another_node) {
  auto a = agent::start({"--node-name", "a"});
  auto b = agent::start({"--node-name", "b"});
  // `valmesh join`: b joins a's cluster.
  auto r = run_valmesh({"join", cluster_addr(a), "--addr", b.addr()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("joined through"), std::string::npos) << r.out;
  ASSERT_TRUE(eventually([&] { return members_of(a)["b"] == "alive"; }, 5s));
  // `valmesh members`: consul's columns.
  r = run_valmesh({"members", "--addr", a.addr()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Node"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("alive"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("b "), std::string::npos) << r.out;
  // `valmesh actors --node b` through a: b's tree, over the cluster link.
  r = run_valmesh({"actors", "--node", "b", "--addr", a.addr(), "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto tree = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(tree.is_discarded()) << r.out;
  EXPECT_EQ(tree["root"]["name"], "node_supervisor");
  // An unknown member: a JSON error, quickly.
  auto res = http(a.http(), "GET", "/api/actors?node=nobody");
  EXPECT_EQ(res.status, 404u) << res.body;
  EXPECT_EQ(parse(res)["error"]["code"], "not_found");
  // Bad joins change nothing and say why.
  res = http(a.http(), "POST", "/api/cluster/join", R"({"address":"nowhere"})");
  EXPECT_EQ(res.status, 400u) << res.body;
  res = http(a.http(), "POST", "/api/cluster/join", R"({"adress":"x:1"})");
  EXPECT_EQ(res.status, 400u) << res.body;
  EXPECT_EQ(members_of(a).size(), 2u);
  // `valmesh actors --all`: both trees.
  r = run_valmesh({"actors", "--all", "--addr", a.addr()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("== a =="), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("== b =="), std::string::npos) << r.out;
}

TEST(cluster, an_unreachable_member_answers_503_within_a_second) {
  auto a = agent::start({"--node-name", "a"});
  auto b = agent::start({"--node-name", "b", "--join", cluster_addr(a)});
  ASSERT_TRUE(eventually([&] { return members_of(a)["b"] == "alive"; }, 5s));
  ::kill(b.proc->pid(), SIGSTOP);
  auto t0 = std::chrono::steady_clock::now();
  auto res = http(a.http(), "GET", "/api/actors?node=b");
  auto took = std::chrono::steady_clock::now() - t0;
  ::kill(b.proc->pid(), SIGCONT);
  EXPECT_EQ(res.status, 503u) << res.body;
  EXPECT_EQ(parse(res)["error"]["code"], "unavailable");
  EXPECT_LT(took, 1500ms);
}

TEST(cluster, a_crashed_cluster_actor_keeps_the_node_in_the_cluster) {
  auto a = agent::start({"--node-name", "a", "--enable-fault-injection"});
  auto b = agent::start({"--node-name", "b", "--join", cluster_addr(a)});
  ASSERT_TRUE(eventually([&] { return members_of(b)["a"] == "alive"; }, 5s));
  auto before = parse(http(b.http(), "GET", "/api/cluster/members"));
  auto res = http(a.http(), "POST", "/api/debug/actors/cluster/crash");
  ASSERT_EQ(res.status, 202u) << res.body;
  // The supervisor restarts it with the same view: a still lists b, b
  // never saw a leave or die, and writes still flow both ways.
  EXPECT_TRUE(eventually([&] { return members_of(a)["b"] == "alive"; }, 3s));
  ASSERT_EQ(http(a.http(), "POST", "/api/services",
                 instance("after", "after-1", 7300).dump())
                .status,
            201u);
  ASSERT_EQ(http(b.http(), "POST", "/api/services",
                 instance("after", "after-2", 7301).dump())
                .status,
            201u);
  EXPECT_TRUE(
      eventually([&] { return has_instance(b, "after", "after-1"); }, 3s));
  EXPECT_TRUE(
      eventually([&] { return has_instance(a, "after", "after-2"); }, 3s));
  EXPECT_EQ(members_of(b)["a"], "alive");
  auto after = parse(http(b.http(), "GET", "/api/cluster/members"));
  auto incarnation_of_a = [](const json& j) {
    for (auto& m : j["members"])
      if (m["name"] == "a") return m["incarnation"].get<uint64_t>();
    return uint64_t{0};
  };
  EXPECT_EQ(incarnation_of_a(after), incarnation_of_a(before))
      << "no refutation was needed: nobody suspected it";
  auto tree = parse(http(a.http(), "GET", "/api/actors"));
  bool restarted = false;
  for (auto& c : tree["root"]["children"])
    if (c["name"] == "cluster") restarted = c["restarts"] == 1;
  EXPECT_TRUE(restarted) << tree.dump(2);
}

TEST(cluster, metrics_count_members_and_replication) {
  auto xs = start_cluster(3);
  ASSERT_TRUE(eventually([&] { return all_alive(xs, xs[0].a); }, 5s));
  ASSERT_TRUE(eventually([&] { return all_alive(xs, xs[1].a); }, 5s));
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(http(xs[0].a.http(), "POST", "/api/services",
                   instance("m", "m-" + std::to_string(i), 7400 + i).dump())
                  .status,
              201u);
  ASSERT_TRUE(
      eventually([&] { return has_instance(xs[1].a, "m", "m-4"); }, 3s));
  auto value = [](const std::string& text, const std::string& series) {
    auto at = text.find("\n" + series + " ");
    if (at == std::string::npos) return -1.0;
    return std::stod(text.substr(at + series.size() + 2));
  };
  std::string a_text, b_text;
  EXPECT_TRUE(eventually(
      [&] {
        a_text = http(xs[0].a.http(), "GET", "/metrics").body;
        b_text = http(xs[1].a.http(), "GET", "/metrics").body;
        return value(a_text, R"(valmesh_cluster_members{status="alive"})") ==
                   3 &&
               value(b_text,
                     R"(valmesh_replication_entries_total{direction="in"})") >=
                   5;
      },
      3s))
      << a_text << "\n---\n"
      << b_text;
  EXPECT_GE(
      value(a_text, R"(valmesh_replication_entries_total{direction="out"})"),
      10)
      << "five writes to two members";
  EXPECT_GT(
      value(a_text, R"(valmesh_replication_bytes_total{direction="out"})"), 0);
  EXPECT_GE(value(b_text, "valmesh_replication_lag_seconds_count"), 5);
}

TEST(cluster, health_and_events_show_the_members) {
  auto a = agent::start({"--node-name", "a"});
  raw_connection sse{a.http_port};
  sse.send("GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string stream;
  auto saw = [&](const std::string& what) {
    return eventually(
        [&] {
          stream += sse.read_available(50ms);
          return stream.find(what) != std::string::npos;
        },
        5s);
  };
  ASSERT_TRUE(saw("text/event-stream")) << stream;
  auto b = agent::start({"--node-name", "b", "--join", cluster_addr(a)});
  EXPECT_TRUE(saw("event: member_joined")) << stream;
  EXPECT_NE(stream.find("\"name\":\"b\""), std::string::npos) << stream;
  auto health = parse(http(a.http(), "GET", "/health"));
  EXPECT_EQ(health["members"]["alive"], 2) << health.dump();
  EXPECT_EQ(health["members"]["dead"], 0) << health.dump();
  ASSERT_EQ(b.proc->stop(SIGTERM).value_or(-1), 0);
  EXPECT_TRUE(saw("event: member_left")) << stream;
  health = parse(http(a.http(), "GET", "/health"));
  EXPECT_EQ(health["members"]["left"], 1) << health.dump();
}

TEST(cluster,
     each_instance_is_checked_by_one_node_and_taken_over_when_it_dies) {
  auto xs = start_cluster(3, {"--health-interval", "1s"});
  for (auto& x : xs)
    ASSERT_TRUE(eventually([&] { return all_alive(xs, x.a); }, 5s));
  auto up = echo::start("checked");
  ASSERT_EQ(http(xs[0].a.http(), "POST", "/api/services",
                 instance("checked", "checked-1", up.port).dump())
                .status,
            201u);
  auto checkers = [&] {
    auto j = parse(http({"127.0.0.1", up.port}, "GET", "/control"));
    std::map<std::string, uint64_t> by;
    for (auto& [agent, n] : j["healthChecksBy"].items()) by[agent] = n;
    return by;
  };
  auto checked_by = [&](const agent& a) {
    auto j = parse(http(a.http(), "GET", "/api/health/services"));
    auto& xs = j["services"]["checked"]["instances"];
    return xs.empty() ? std::string{} : xs[0]["checkedBy"].get<std::string>();
  };
  // Every node names the same checker...
  std::string owner;
  ASSERT_TRUE(eventually(
      [&] {
        owner = checked_by(xs[0].a);
        return !owner.empty() && checked_by(xs[1].a) == owner &&
               checked_by(xs[2].a) == owner;
      },
      5s));
  // ...and only that one checks: three checks in three intervals, not nine.
  ASSERT_TRUE(eventually(
      [&] { return checkers()["valmesh-health-check/" + owner] >= 4; }, 10s));
  auto by = checkers();
  EXPECT_EQ(by.size(), 1u) << json(by).dump();
  // The checker dies: another member takes the instance over within the
  // interval plus the time to declare it dead.
  auto victim = std::find_if(xs.begin(), xs.end(),
                             [&](auto& x) { return x.name == owner; });
  ASSERT_NE(victim, xs.end());
  auto killed_at = std::chrono::steady_clock::now();
  ::kill(victim->a.proc->pid(), SIGKILL);
  victim->a.proc->wait(5s);
  std::string heir;
  EXPECT_TRUE(eventually(
      [&] {
        for (auto& [agent, n] : checkers())
          if (agent != "valmesh-health-check/" + owner && n > 0) heir = agent;
        return !heir.empty();
      },
      8s))
      << json(checkers()).dump() << "\nmembers as a survivor sees them: "
      << http((victim == xs.begin() ? xs[1] : xs[0]).a.http(), "GET",
              "/api/cluster/members")
             .body;
  auto gap = std::chrono::steady_clock::now() - killed_at;
  std::cout
      << "checks taken over by " << heir << " "
      << std::chrono::duration_cast<std::chrono::milliseconds>(gap).count()
      << " ms after the checker was killed\n";
  EXPECT_LT(gap, 1s + 3s + 1s) << "interval + detection bound + slack";
  for (auto& x : xs) {
    if (x.name == owner) continue;
    EXPECT_TRUE(eventually([&] { return checked_by(x.a) != owner; }, 3s))
        << x.name;
  }
}
