// Partitions between real nodes: three `valmesh` processes, each in a
// network namespace of its own made by the test (veth pairs to a bridge in a
// hub namespace), with links cut, healed and made lossy. Needs root and
// `ip netns`; where this machine refuses, every test says so and is skipped.

#include <signal.h>

#include <set>

#include <gtest/gtest.h>

#include "tests/support/netns.hpp"
#include "tests/support/process.hpp"

using namespace valmesh;
using namespace valmesh::test;
using json = nlohmann::json;

namespace {

constexpr uint16_t cluster_port = 7946;

/// The port every namespace's own `valmesh-echo` listens on, on its own
/// loopback: an instance at 127.0.0.1:echo_port is up wherever it is checked
/// from, unless the test stops the echo of one namespace.
constexpr uint16_t echo_port = 18080;

/// Three nodes n0, n1, n2 in three namespaces, each joining the others.
class partition : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why_not;
    lab_ = netns_lab::make(3, why_not);
    if (!lab_) GTEST_SKIP() << "partition tests skipped: " << why_not;
  }

  void TearDown() override {
    // The processes first: a namespace goes once nothing runs inside.
    echoes_.clear();
    nodes_.clear();
    lab_.reset();
  }

  std::string cluster_addr(size_t i) const {
    return lab_->address(i) + ":" + std::to_string(cluster_port);
  }

  /// Starts node i (n0, n1, n2) with `extra` flags.
  void start(size_t i, std::vector<std::string> extra = {}) {
    auto argv = lab_->exec_prefix(i);
    argv.insert(argv.end(),
                {valmesh_bin(), "agent", "--node-name", name(i), "--http",
                 "127.0.0.1:0", "--cluster", cluster_addr(i), "--dev"});
    for (size_t j = 0; j < lab_->size(); ++j)
      if (j != i) argv.insert(argv.end(), {"--join", cluster_addr(j)});
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto a = agent::start_argv(std::move(argv));
    ASSERT_TRUE(a.proc && a.http_port != 0);
    if (nodes_.size() <= i) nodes_.resize(i + 1);
    nodes_[i] = std::move(a);
  }

  void start_all(std::vector<std::string> extra = {}) {
    for (size_t i = 0; i < lab_->size(); ++i) start(i, extra);
  }

  /// Starts a `valmesh-echo` in namespace i on `echo_port`.
  void start_echo(size_t i) {
    auto argv = lab_->exec_prefix(i);
    argv.insert(argv.end(), {valmesh_echo_bin(), "--port",
                             std::to_string(echo_port), "--name", name(i)});
    auto p = process::start(argv);
    ASSERT_TRUE(p);
    ASSERT_TRUE(p->wait_for(std::regex{R"(listening on \S+:(\d+))"}))
        << p->out() << p->err();
    if (echoes_.size() <= i) echoes_.resize(i + 1);
    echoes_[i] = std::move(p);
  }

  static std::string name(size_t i) { return "n" + std::to_string(i); }

  /// One request to node i's HTTP port, from inside its namespace; status
  /// 0 when it cannot be reached.
  web::client_response call(size_t i, const std::string& method,
                            const std::string& target,
                            const std::string& body = {}) {
    auto port = nodes_.at(i).http_port;
    return lab_->in(i, [&] {
      web::client_request req;
      req.method = method;
      req.target = target;
      req.body = body;
      auto res = web::send_request({"127.0.0.1", port}, req);
      return res ? std::move(*res) : web::client_response{};
    });
  }

  /// Member name -> status, as node i sees them.
  std::map<std::string, std::string> members_of(size_t i) {
    std::map<std::string, std::string> result;
    auto j = json::parse(call(i, "GET", "/api/cluster/members").body, nullptr,
                         false);
    if (j.is_discarded() || !j.contains("members")) return result;
    for (auto& m : j["members"]) result[m["name"]] = m["status"];
    return result;
  }

  /// Whether node i sees every node in `names` with `status`.
  bool sees(size_t i, std::vector<size_t> names, const std::string& status) {
    auto ms = members_of(i);
    for (auto j : names)
      if (ms[name(j)] != status) return false;
    return true;
  }

  bool all_alive() {
    for (size_t i = 0; i < nodes_.size(); ++i)
      if (!sees(i, {0, 1, 2}, "alive")) return false;
    return true;
  }

  /// Node i's whole catalog as sorted `service/id@revision:origin port`
  /// lines: what must be equal on every node.
  std::string catalog_of(size_t i) {
    auto list =
        json::parse(call(i, "GET", "/api/services").body, nullptr, false);
    if (list.is_discarded() || !list.contains("services")) return "unreachable";
    std::set<std::string> lines;
    for (auto& s : list["services"]) {
      auto one = json::parse(
          call(i, "GET", "/api/services/" + s["name"].get<std::string>()).body,
          nullptr, false);
      if (one.is_discarded() || !one.contains("instances")) continue;
      for (auto& x : one["instances"])
        lines.insert(x["name"].get<std::string>() + "/" +
                     x["id"].get<std::string>() + "@" +
                     std::to_string(x["revision"].get<uint64_t>()) + ":" +
                     x["origin"].get<std::string>() + " port " +
                     std::to_string(x["port"].get<int>()));
    }
    std::string d;
    for (auto& l : lines) d += l + "\n";
    return d;
  }

  bool all_equal() {
    auto first = catalog_of(0);
    return first != "unreachable" && catalog_of(1) == first &&
           catalog_of(2) == first;
  }

  /// Registers (or updates) `svc/id` at `port` through node i.
  void put(size_t i, const std::string& svc, const std::string& id, int port) {
    json x{{"name", svc}, {"id", id}, {"host", "127.0.0.1"}, {"port", port}};
    auto res = call(i, "POST", "/api/services", x.dump());
    ASSERT_EQ(res.status, 201u) << name(i) << ": " << res.body;
  }

  void remove(size_t i, const std::string& svc, const std::string& id) {
    auto res = call(i, "DELETE", "/api/services/" + svc + "/" + id);
    ASSERT_EQ(res.status, 204u) << name(i) << ": " << res.body;
  }

  /// The instance `svc/id` as node i has it, or null.
  json instance_on(size_t i, const std::string& svc, const std::string& id) {
    auto j = json::parse(call(i, "GET", "/api/services/" + svc).body, nullptr,
                         false);
    if (j.is_discarded() || !j.contains("instances")) return nullptr;
    for (auto& x : j["instances"])
      if (x["id"] == id) return x;
    return nullptr;
  }

  /// Isolates node i and waits until both sides declared the other dead.
  void split_off(size_t i) {
    lab_->isolate(i);
    std::vector<size_t> rest;
    for (size_t j = 0; j < lab_->size(); ++j)
      if (j != i) rest.push_back(j);
    for (auto j : rest)
      ASSERT_TRUE(eventually([&] { return sees(j, {i}, "dead"); }, 15s))
          << name(j) << " sees " << json(members_of(j)).dump();
    ASSERT_TRUE(eventually([&] { return sees(i, rest, "dead"); }, 15s))
        << name(i) << " sees " << json(members_of(i)).dump();
  }

  /// Heals node i's link; waits until every node sees every node alive and
  /// all catalogs are equal; returns how long that took.
  std::chrono::milliseconds heal_and_converge(size_t i) {
    lab_->heal(i);
    auto healed = std::chrono::steady_clock::now();
    EXPECT_TRUE(eventually([&] { return all_alive(); }, 40s))
        << json(members_of(0)).dump() << json(members_of(i)).dump();
    EXPECT_TRUE(eventually([&] { return all_equal(); }, 20s))
        << "n0:\n"
        << catalog_of(0) << "n1:\n"
        << catalog_of(1) << "n2:\n"
        << catalog_of(2);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - healed);
    std::cout << "converged " << took.count() << " ms after the heal\n";
    return took;
  }

  std::unique_ptr<netns_lab> lab_;
  std::vector<agent> nodes_;
  std::vector<std::unique_ptr<process>> echoes_;
};

}  // namespace

TEST_F(partition, an_isolated_node_rejoins_and_all_three_end_equal) {
  start_all();
  ASSERT_TRUE(eventually([&] { return all_alive(); }, 10s));
  put(0, "orders", "orders-1", 7001);
  ASSERT_TRUE(eventually([&] { return all_equal(); }, 5s));
  split_off(2);
  // Writes on both sides while apart.
  put(0, "orders", "orders-2", 7002);
  put(2, "billing", "billing-1", 7101);
  EXPECT_TRUE(instance_on(2, "orders", "orders-2").is_null())
      << "the isolated node cannot have heard of it yet";
  heal_and_converge(2);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_FALSE(instance_on(i, "orders", "orders-2").is_null()) << name(i);
    EXPECT_FALSE(instance_on(i, "billing", "billing-1").is_null()) << name(i);
  }
}

TEST_F(partition, a_split_with_writes_on_both_sides_heals_with_nothing_lost) {
  start_all();
  ASSERT_TRUE(eventually([&] { return all_alive(); }, 10s));
  for (int k = 1; k <= 6; ++k)
    put(0, "stock", "stock-" + std::to_string(k), 7200 + k);
  ASSERT_TRUE(eventually([&] { return all_equal(); }, 5s));
  split_off(2);
  // The majority side (n0, n1): a registration, an update, a removal.
  put(1, "stock", "stock-majority", 7300);
  put(0, "stock", "stock-1", 8001);
  remove(1, "stock", "stock-2");
  // The minority side (n2): the same kinds of writes, to other instances.
  put(2, "stock", "stock-minority", 7400);
  put(2, "stock", "stock-3", 8003);
  remove(2, "stock", "stock-4");
  // Both sides write stock-5 and stock-6; the later write wins everywhere:
  // an update on n2, then a removal on n0 (stock-5), and a removal on n1,
  // then an update on n2 (stock-6, which comes back with its new port).
  put(2, "stock", "stock-5", 8005);
  remove(0, "stock", "stock-5");
  remove(1, "stock", "stock-6");
  put(2, "stock", "stock-6", 8006);
  heal_and_converge(2);
  for (size_t i = 0; i < 3; ++i) {
    SCOPED_TRACE(name(i));
    EXPECT_FALSE(instance_on(i, "stock", "stock-majority").is_null());
    EXPECT_FALSE(instance_on(i, "stock", "stock-minority").is_null());
    EXPECT_EQ(instance_on(i, "stock", "stock-1").value("port", 0), 8001);
    EXPECT_EQ(instance_on(i, "stock", "stock-3").value("port", 0), 8003);
    EXPECT_TRUE(instance_on(i, "stock", "stock-2").is_null())
        << "a removal on the majority side came back";
    EXPECT_TRUE(instance_on(i, "stock", "stock-4").is_null())
        << "a removal on the minority side came back";
    EXPECT_TRUE(instance_on(i, "stock", "stock-5").is_null())
        << "the later removal lost to an earlier update";
    EXPECT_EQ(instance_on(i, "stock", "stock-6").value("port", 0), 8006)
        << "the later update lost to an earlier removal";
  }
}

TEST_F(partition, only_the_majority_side_takes_over_the_other_sides_checks) {
  for (size_t i = 0; i < 3; ++i) start_echo(i);
  start_all({"--health-interval", "1s"});
  ASSERT_TRUE(eventually([&] { return all_alive(); }, 10s));
  // Instances at 127.0.0.1:echo_port: up from every namespace.
  for (int k = 1; k <= 9; ++k)
    put(0, "work", "work-" + std::to_string(k), echo_port);
  auto checked_by = [&](size_t i) {
    std::map<std::string, std::string> by;
    auto j = json::parse(call(i, "GET", "/api/health/services").body, nullptr,
                         false);
    if (j.is_discarded()) return by;
    for (auto& x : j["services"]["work"]["instances"])
      by[x["id"]] = x.value("checkedBy", "");
    return by;
  };
  auto status_on = [&](size_t i, const std::string& id) {
    return instance_on(i, "work", id).value("status", "");
  };
  std::map<std::string, std::string> owners;
  ASSERT_TRUE(eventually(
      [&] {
        owners = checked_by(0);
        if (owners.size() != 9 || checked_by(2) != owners) return false;
        for (auto& [id, _] : owners)
          if (status_on(0, id) != "passing") return false;
        return true;
      },
      10s))
      << json(checked_by(0)).dump();
  std::vector<std::string> of_n2, of_others;
  for (auto& [id, owner] : owners)
    (owner == "n2" ? of_n2 : of_others).push_back(id);
  ASSERT_FALSE(of_n2.empty() || of_others.empty())
      << "9 instances over 3 nodes should give each some: "
      << json(owners).dump();
  // In n2's namespace nothing answers any more: whatever n2 checks turns
  // critical there.
  echoes_[2].reset();
  split_off(2);
  // The majority takes n2's instances over: checked by n0 or n1, and
  // passing (their echoes answer).
  EXPECT_TRUE(eventually(
      [&] {
        auto by = checked_by(0);
        for (auto& id : of_n2)
          if (by[id] == "n2" || by[id].empty()) return false;
        return true;
      },
      5s))
      << json(checked_by(0)).dump();
  // The minority side checks only its own share: those turn critical...
  EXPECT_TRUE(eventually(
      [&] {
        for (auto& id : of_n2)
          if (status_on(2, id) != "critical") return false;
        return true;
      },
      10s));
  // ...while the instances the other side checks keep their last known
  // status on n2 for all that time, though n2 could not reach them now.
  for (auto& id : of_others) {
    EXPECT_EQ(status_on(2, id), "passing") << id;
    EXPECT_NE(checked_by(2)[id], "n2") << id;
  }
  heal_and_converge(2);
}

TEST_F(partition, a_lossy_link_does_not_make_members_flap) {
  start_all();
  ASSERT_TRUE(eventually([&] { return all_alive(); }, 10s));
  if (auto why = lab_->lose(0, 1, 30))
    GTEST_SKIP() << "lossy-link test skipped: " << *why;
  // 20 s of 30% loss between n0 and n1 (n2's links are clean), every
  // node's view sampled all along.
  size_t not_alive = 0, dead = 0, samples = 0;
  auto until = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < until) {
    for (size_t i = 0; i < 3; ++i) {
      for (auto& [who, status] : members_of(i)) {
        ++samples;
        if (status != "alive") ++not_alive;
        if (status == "dead") ++dead;
      }
    }
  }
  lab_->lose(0, 1, 0);
  std::cout << "30% loss between n0 and n1 for 20 s: " << samples
            << " member states sampled, " << not_alive << " not alive, " << dead
            << " dead\n";
  EXPECT_EQ(dead, 0u) << "a lossy link made a live member dead";
  EXPECT_LE(not_alive * 100, samples * 5)
      << "members were suspect more than 5% of the time";
  EXPECT_TRUE(eventually([&] { return all_alive(); }, 10s));
}
