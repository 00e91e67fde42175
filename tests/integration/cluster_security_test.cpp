// The guarded cluster port, with real `valmesh` processes on loopback: the
// cluster secret's mutual challenge, TLS between nodes with certificates
// made here by `openssl`, the HTTP token on every node, and a peer that
// sends a message CAF cannot deserialize.

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/cluster.hpp"
#include "actors/message_guard.hpp"
#include "actors/protocol.hpp"
#include "tests/support/process.hpp"

using namespace valmesh;
using namespace valmesh::test;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string cluster_addr(const agent& a) {
  return "127.0.0.1:" + std::to_string(a.cluster_port);
}

std::map<std::string, std::string> members_of(const agent& a) {
  std::map<std::string, std::string> result;
  auto res = http(a.http(), "GET", "/api/cluster/members");
  auto j = json::parse(res.body, nullptr, false);
  if (j.is_discarded() || !j.contains("members")) return result;
  for (auto& m : j["members"]) result[m["name"]] = m["status"];
  return result;
}

bool sees_alive(const agent& a, const std::string& name) {
  return members_of(a)[name] == "alive";
}

json instance(const std::string& name, const std::string& id) {
  return {{"name", name}, {"id", id}, {"host", "127.0.0.1"}, {"port", 7001}};
}

bool has_instance(const agent& a, const std::string& name,
                  const std::string& id,
                  std::vector<std::pair<std::string, std::string>> h = {}) {
  auto res = http(a.http(), "GET", "/api/services/" + name, {}, std::move(h));
  if (res.status != 200) return false;
  auto body = json::parse(res.body);
  for (auto& x : body["instances"])
    if (x["id"] == id) return true;
  return false;
}

/// Registers orders-1 on `a` and awaits it on `b`.
void expect_replicated(const agent& a, const agent& b) {
  ASSERT_EQ(http(a.http(), "POST", "/api/services",
                 instance("orders", "orders-1").dump())
                .status,
            201u);
  EXPECT_TRUE(
      eventually([&] { return has_instance(b, "orders", "orders-1"); }, 3s));
}

/// A directory removed at the end of the test.
struct temp_dir {
  fs::path path;
  temp_dir() {
    auto tmpl = (fs::temp_directory_path() / "valmesh-sec-XXXXXX").string();
    path = ::mkdtemp(tmpl.data());
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const {
    return (path / name).string();
  }
};

}  // namespace

TEST(cluster_security, nodes_that_share_the_secret_join) {
  auto a = agent::start({"--node-name", "a", "--cluster-secret", "s3cret"});
  auto b = agent::start({"--node-name", "b", "--cluster-secret", "s3cret",
                         "--join", cluster_addr(a)});
  EXPECT_TRUE(eventually([&] { return sees_alive(a, "b"); }, 5s));
  EXPECT_TRUE(eventually([&] { return sees_alive(b, "a"); }, 5s));
  ASSERT_NO_FATAL_FAILURE(expect_replicated(a, b));
}

TEST(cluster_security, a_node_that_does_not_know_the_secret_learns_nothing) {
  auto a = agent::start({"--node-name", "a", "--cluster-secret", "s3cret"});
  ASSERT_EQ(http(a.http(), "POST", "/api/services",
                 instance("orders", "orders-1").dump())
                .status,
            201u);
  for (auto wrong : {std::vector<std::string>{"--cluster-secret", "guess"},
                     std::vector<std::string>{}}) {
    SCOPED_TRACE(wrong.empty() ? "no secret" : "a wrong secret");
    std::vector<std::string> flags{"--node-name", "intruder", "--join",
                                   cluster_addr(a)};
    flags.insert(flags.end(), wrong.begin(), wrong.end());
    auto b = agent::start(flags);
    // Refused, with a line that says why: by the intruder when a's proof
    // fails its wrong secret (it then never answers a's challenge), by a
    // when the intruder skips the challenge.
    if (wrong.empty())
      ASSERT_TRUE(a.proc->wait_for(
          std::regex{"has not proved that it knows the cluster secret"}, 5s))
          << a.proc->out() << a.proc->err();
    else
      ASSERT_TRUE(b.proc->wait_for(
          std::regex{"cluster: refused .*: it does not know the cluster "
                     "secret"},
          5s))
          << b.proc->out() << b.proc->err();
    ASSERT_TRUE(b.proc->wait_for(std::regex{"no seed answered"}, 5s))
        << b.proc->out() << b.proc->err();
    // Nothing of the membership or the catalog crossed.
    EXPECT_EQ(members_of(b).size(), 1u) << json(members_of(b)).dump();
    EXPECT_EQ(members_of(a).count("intruder"), 0u)
        << json(members_of(a)).dump();
    EXPECT_FALSE(has_instance(b, "orders", "orders-1"));
    // And a join asked over HTTP fails the same way.
    auto res = http(b.http(), "POST", "/api/cluster/join",
                    json{{"address", cluster_addr(a)}}.dump());
    EXPECT_GE(res.status, 400u) << res.body;
    EXPECT_EQ(members_of(b).size(), 1u);
  }
}

TEST(cluster_security, the_secret_can_come_from_a_file) {
  temp_dir dir;
  {
    std::ofstream{dir / "secret"} << "from-a-file\n";
    std::ofstream{dir / "empty"};
  }
  auto a =
      agent::start({"--node-name", "a", "--cluster-secret", "from-a-file"});
  auto b = agent::start({"--node-name", "b", "--cluster-secret-file",
                         dir / "secret", "--join", cluster_addr(a)});
  EXPECT_TRUE(eventually([&] { return sees_alive(a, "b"); }, 5s));
  auto bad =
      run_valmesh({"agent", "--dev", "--http", "127.0.0.1:0", "--cluster",
                   "127.0.0.1:0", "--cluster-secret-file", dir / "empty"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("--cluster-secret-file"), std::string::npos)
      << bad.err;
}

TEST(cluster_security, a_cluster_port_beyond_loopback_without_a_secret_warns) {
  auto p = process::start({valmesh_bin(), "agent", "--dev", "--http",
                           "127.0.0.1:0", "--cluster", "0.0.0.0:0"});
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->wait_for(
      std::regex{"listens beyond loopback and no --cluster-secret is set"}))
      << p->out() << p->err();
  auto q = process::start({valmesh_bin(), "agent", "--dev", "--http",
                           "127.0.0.1:0", "--cluster", "127.0.0.1:0"});
  ASSERT_TRUE(q->wait_for(std::regex{"valmesh agent started"}));
  EXPECT_EQ(q->out().find("beyond loopback") + q->err().find("beyond loopback"),
            2 * std::string::npos)
      << "no warning on loopback";
}

TEST(cluster_security, the_http_token_applies_on_every_node) {
  auto a = agent::start({"--node-name", "a", "--token", "t0ken"});
  auto b = agent::start(
      {"--node-name", "b", "--token", "t0ken", "--join", cluster_addr(a)});
  ASSERT_TRUE(eventually([&] { return sees_alive(b, "a"); }, 5s));
  std::vector<std::pair<std::string, std::string>> auth{
      {"Authorization", "Bearer t0ken"}};
  EXPECT_EQ(http(b.http(), "POST", "/api/services",
                 instance("orders", "orders-1").dump())
                .status,
            401u);
  EXPECT_EQ(http(a.http(), "POST", "/api/services",
                 instance("orders", "orders-2").dump(), auth)
                .status,
            201u);
  // The write replicated over the cluster link needs no token on b.
  EXPECT_TRUE(
      eventually([&] { return has_instance(b, "orders", "orders-2"); }, 3s));
  EXPECT_FALSE(has_instance(a, "orders", "orders-1"));
  EXPECT_EQ(http(b.http(), "DELETE", "/api/services/orders/orders-2").status,
            401u);
}

// -- TLS ----------------------------------------------------------------------

namespace {

/// A CA and certificates signed by it, made with the `openssl` command.
class pki {
 public:
  explicit pki(const temp_dir& dir) : dir_(dir) {}

  /// Makes a CA called `ca`; false (with the reason) if openssl fails.
  bool make_ca(const std::string& ca, std::string& why) {
    return openssl({"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                    "2", "-subj", "/CN=" + ca, "-keyout", dir_ / (ca + ".key"),
                    "-out", dir_ / (ca + ".pem")},
                   why);
  }

  /// Makes `name`.pem / `name`.key signed by `ca`.
  bool make_cert(const std::string& name, const std::string& ca,
                 std::string& why) {
    return openssl({"req", "-newkey", "rsa:2048", "-nodes", "-subj",
                    "/CN=" + name, "-keyout", dir_ / (name + ".key"), "-out",
                    dir_ / (name + ".csr")},
                   why) &&
           openssl({"x509", "-req", "-in", dir_ / (name + ".csr"), "-CA",
                    dir_ / (ca + ".pem"), "-CAkey", dir_ / (ca + ".key"),
                    "-CAcreateserial", "-days", "2", "-out",
                    dir_ / (name + ".pem")},
                   why);
  }

  std::vector<std::string> flags(const std::string& name,
                                 const std::string& ca) const {
    return {"--cluster-tls-cert", dir_ / (name + ".pem"),
            "--cluster-tls-key",  dir_ / (name + ".key"),
            "--cluster-tls-ca",   dir_ / (ca + ".pem")};
  }

 private:
  bool openssl(std::vector<std::string> args, std::string& why) {
    args.insert(args.begin(), "/usr/bin/openssl");
    auto r = run(args);
    if (r.exit_code == 0) return true;
    why = "openssl " + args[1] + " failed: " + r.err;
    return false;
  }

  const temp_dir& dir_;
};

bool openssl_installed() {
  return ::access("/usr/bin/openssl", X_OK) == 0;
}

}  // namespace

TEST(cluster_security,
     nodes_with_certificates_of_the_cluster_ca_join_over_tls) {
  if (!openssl_installed())
    GTEST_SKIP() << "the openssl command is not installed: no certificates";
  temp_dir dir;
  pki certs{dir};
  std::string why;
  ASSERT_TRUE(certs.make_ca("cluster-ca", why)) << why;
  ASSERT_TRUE(certs.make_cert("a", "cluster-ca", why)) << why;
  ASSERT_TRUE(certs.make_cert("b", "cluster-ca", why)) << why;
  auto fa = certs.flags("a", "cluster-ca");
  fa.insert(fa.begin(), {"--node-name", "a"});
  auto a = agent::start(fa);
  auto fb = certs.flags("b", "cluster-ca");
  fb.insert(fb.begin(), {"--node-name", "b", "--join", cluster_addr(a)});
  auto b = agent::start(fb);
  EXPECT_TRUE(eventually([&] { return sees_alive(a, "b"); }, 5s))
      << a.proc->err() << b.proc->err();
  EXPECT_TRUE(eventually([&] { return sees_alive(b, "a"); }, 5s));
  ASSERT_NO_FATAL_FAILURE(expect_replicated(a, b));
  // The cluster port speaks TLS only: a plain node cannot join.
  auto plain =
      agent::start({"--node-name", "plain", "--join", cluster_addr(a)});
  ASSERT_TRUE(plain.proc->wait_for(std::regex{"no seed answered"}, 10s))
      << plain.proc->out() << plain.proc->err();
  EXPECT_EQ(members_of(a).count("plain"), 0u);
}

TEST(cluster_security, a_certificate_of_another_ca_cannot_join) {
  if (!openssl_installed())
    GTEST_SKIP() << "the openssl command is not installed: no certificates";
  temp_dir dir;
  pki certs{dir};
  std::string why;
  ASSERT_TRUE(certs.make_ca("cluster-ca", why)) << why;
  ASSERT_TRUE(certs.make_ca("other-ca", why)) << why;
  ASSERT_TRUE(certs.make_cert("a", "cluster-ca", why)) << why;
  ASSERT_TRUE(certs.make_cert("m", "other-ca", why)) << why;
  auto fa = certs.flags("a", "cluster-ca");
  fa.insert(fa.begin(), {"--node-name", "a"});
  auto a = agent::start(fa);
  ASSERT_EQ(http(a.http(), "POST", "/api/services",
                 instance("orders", "orders-1").dump())
                .status,
            201u);
  // m trusts the cluster's CA but holds a certificate of another one.
  auto fm = certs.flags("m", "other-ca");
  fm[5] = dir / "cluster-ca.pem";
  fm.insert(fm.begin(), {"--node-name", "m", "--join", cluster_addr(a)});
  auto m = agent::start(fm);
  ASSERT_TRUE(m.proc->wait_for(std::regex{"no seed answered"}, 10s))
      << m.proc->out() << m.proc->err();
  EXPECT_EQ(members_of(a).count("m"), 0u);
  EXPECT_EQ(members_of(m).size(), 1u);
  EXPECT_FALSE(has_instance(m, "orders", "orders-1"));
}

// -- A message CAF cannot deserialize -----------------------------------------

namespace {

/// Written on the wire under the name of CAF's built-in `caf::config_value`,
/// with a variant type index no `config_value` has: loading it throws in
/// CAF 0.17.6 instead of failing.
struct bad_config_value {};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, bad_config_value&) {
  uint8_t type_index = 200;
  return f(type_index);
}

/// An actor system that speaks the cluster's protocol and sends
/// `bad_config_value` as "@config_value".
struct hostile_config : caf::actor_system_config {
  hostile_config() {
    add_message_type<bad_config_value>("@config_value");
    load<caf::io::middleman>();
    set("middleman.app-identifiers",
        std::vector<std::string>{cluster_protocol});
    set("logger.verbosity", caf::atom("quiet"));
  }
};

}  // namespace

TEST(cluster_security, a_message_caf_cannot_deserialize_is_an_error) {
  ASSERT_TRUE(message_guard_active());
  hostile_config cfg;
  caf::actor_system sys{cfg};
  std::vector<char> bytes;
  caf::binary_serializer sink{sys, bytes};
  auto msg = caf::make_message(bad_config_value{});
  ASSERT_FALSE(sink(msg));
  auto before = malformed_messages_dropped();
  caf::message loaded;
  caf::binary_deserializer source{sys, bytes};
  caf::error err;
  // `caf::inspect`, as the middleman's BASP workers load a payload.
  ASSERT_NO_THROW(err = caf::inspect(source, loaded));
  EXPECT_EQ(err, caf::sec::malformed_basp_message) << sys.render(err);
  EXPECT_TRUE(loaded.empty());
  EXPECT_EQ(malformed_messages_dropped(), before + 1);
}

TEST(cluster_security, a_peer_that_sends_a_malformed_message_stops_nothing) {
  auto a = agent::start({"--node-name", "a", "--cluster-secret", "s3cret"});
  auto b = agent::start({"--node-name", "b", "--cluster-secret", "s3cret",
                         "--join", cluster_addr(a)});
  ASSERT_TRUE(eventually([&] { return sees_alive(a, "b"); }, 5s));
  // The BASP handshake needs only the protocol's name: CAF deserializes a
  // message before the cluster secret is ever asked for.
  hostile_config cfg;
  caf::actor_system sys{cfg};
  auto gateway = sys.middleman().remote_actor("127.0.0.1", a.cluster_port);
  ASSERT_TRUE(gateway) << sys.render(gateway.error());
  caf::anon_send(*gateway, bad_config_value{});
  ASSERT_TRUE(a.proc->wait_for(
      std::regex{"dropped a message CAF could not deserialize"}, 5s))
      << a.proc->out() << a.proc->err();
  // The node goes on: it answers, keeps its member, and replicates.
  EXPECT_FALSE(a.proc->wait(0ms).has_value());
  EXPECT_EQ(http(a.http(), "GET", "/health").status, 200u);
  ASSERT_NO_FATAL_FAILURE(expect_replicated(a, b));
  EXPECT_TRUE(sees_alive(b, "a"));
}
