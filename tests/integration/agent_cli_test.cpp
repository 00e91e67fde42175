// The client commands of `valmesh` against a real agent: tables, --json,
// the address and token from flags and environment, and SPEC's exit codes
// (0 ok, 1 the agent answered an error, 2 usage, 3 unreachable).

#include <csignal>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"

using namespace valmesh;
using namespace valmesh::test;
using json = nlohmann::json;

namespace {

class cli : public ::testing::Test {
 protected:
  void SetUp() override {
    a = agent::start();
    ASSERT_TRUE(a.proc);
  }
  void TearDown() override {
    if (a.proc) {
      EXPECT_EQ(a.proc->stop(SIGTERM), 0);
    }
  }
  agent a;
};

}  // namespace

TEST(cli_basics, version_prints_build_info) {
  auto r = run_valmesh({"version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("valmesh 0.1.0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("caf 0.17"), std::string::npos) << r.out;
}

TEST(cli_basics, usage_errors_exit_2) {
  EXPECT_EQ(run_valmesh({}).exit_code, 2);
  EXPECT_EQ(run_valmesh({"frobnicate"}).exit_code, 2);
  EXPECT_EQ(run_valmesh({"deregister", "only-one-arg"}).exit_code, 2);
  EXPECT_EQ(run_valmesh({"services", "--addr", "not an address"}).exit_code, 2);
  // Invalid registrations are caught before any request is sent.
  auto r = run_valmesh({"register", "--name", "bad name", "--host", "h",
                        "--port", "1", "--addr", "http://127.0.0.1:1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("name"), std::string::npos) << r.err;
  EXPECT_EQ(run_valmesh({"register", "--name", "x"}).exit_code, 2);
}

TEST(cli_basics, an_unreachable_agent_exits_3) {
  // Port 1 on loopback: nothing listens there.
  auto r = run_valmesh({"services", "--addr", "http://127.0.0.1:1"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("cannot connect"), std::string::npos) << r.err;
}

TEST_F(cli, register_list_show_and_deregister) {
  auto r = run_valmesh(
      {"register",  "--addr",   a.addr(), "--name", "orders",   "--host",
       "127.0.0.1", "--port",   "6000",   "--id",   "orders-1", "--version",
       "1.2.0",     "--tag",    "a",      "--tag",  "b",        "--meta",
       "zone=eu",   "--weight", "3",      "--ttl",  "30s"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("registered orders/orders-1"), std::string::npos);

  r = run_valmesh({"services", "--addr", a.addr()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("NAME"), std::string::npos);
  EXPECT_NE(r.out.find("orders"), std::string::npos);
  EXPECT_NE(r.out.find("1.2.0"), std::string::npos);

  r = run_valmesh({"services", "orders", "--addr", a.addr()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("orders-1"), std::string::npos);
  EXPECT_NE(r.out.find("127.0.0.1:6000"), std::string::npos);
  EXPECT_NE(r.out.find("a,b"), std::string::npos);

  r = run_valmesh({"services", "orders", "--json", "--addr", a.addr()});
  ASSERT_EQ(r.exit_code, 0);
  auto j = json::parse(r.out);
  EXPECT_EQ(j["instances"][0]["metadata"]["zone"], "eu");
  EXPECT_EQ(j["instances"][0]["weight"], 3);
  EXPECT_EQ(j["instances"][0]["ttl"], "30s");

  r = run_valmesh({"deregister", "orders", "orders-1", "--addr", a.addr()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run_valmesh({"deregister", "orders", "orders-1", "--addr", a.addr()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not_found"), std::string::npos) << r.err;
  EXPECT_EQ(run_valmesh({"services", "orders", "--addr", a.addr()}).exit_code,
            1);
}

TEST_F(cli, register_from_a_file) {
  auto file = ::testing::TempDir() + "/instance.json";
  std::ofstream{file} << R"({"name": "users", "host": "127.0.0.1", "port": 7000,
                            "id": "users-1"})";
  auto r = run_valmesh({"register", file, "--addr", a.addr()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = json::parse(
      run_valmesh({"services", "users", "--json", "--addr", a.addr()}).out);
  EXPECT_EQ(j["instances"][0]["id"], "users-1");
  std::ofstream{file} << "{not json";
  EXPECT_EQ(run_valmesh({"register", file, "--addr", a.addr()}).exit_code, 2);
}

TEST_F(cli, the_address_comes_from_the_environment) {
  auto r =
      run_valmesh({"services", "--json"}, {{"VALMESH_HTTP_ADDR", a.addr()}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["services"], json::array());
}

TEST(cli_token, the_token_comes_from_a_flag_or_the_environment) {
  auto a = agent::start({"--token", "s3cret"});
  ASSERT_TRUE(a.proc);
  std::vector<std::string> reg{"register",  "--addr", a.addr(),
                               "--name",    "orders", "--host",
                               "127.0.0.1", "--port", "6000"};
  auto r = run_valmesh(reg);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("401"), std::string::npos) << r.err;
  auto with_flag = reg;
  with_flag.insert(with_flag.end(), {"--token", "s3cret"});
  EXPECT_EQ(run_valmesh(with_flag).exit_code, 0);
  EXPECT_EQ(run_valmesh(reg, {{"VALMESH_TOKEN", "s3cret"}}).exit_code, 0);
  EXPECT_EQ(run_valmesh(reg, {{"VALMESH_TOKEN", "wrong"}}).exit_code, 1);
  EXPECT_EQ(a.proc->stop(SIGTERM), 0);
}
