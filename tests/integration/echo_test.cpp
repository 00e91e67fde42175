// valmesh-echo (SPEC §9), the upstream every other test and benchmark uses:
// what it echoes, and how /control changes it.

#include <csignal>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/process.hpp"

using namespace valmesh;
using namespace valmesh::test;
using json = nlohmann::json;

namespace {

class echo_server : public ::testing::Test {
 protected:
  void SetUp() override {
    e = echo::start("orders-echo");
    ASSERT_TRUE(e.proc);
  }
  void TearDown() override {
    if (e.proc) {
      EXPECT_EQ(e.proc->stop(SIGTERM), 0);
    }
  }
  endpoint ep() const { return {"127.0.0.1", e.port}; }
  echo e;
};

}  // namespace

TEST_F(echo_server, health_is_ok) {
  auto res = http(ep(), "GET", "/health");
  EXPECT_EQ(res.status, 200u);
  EXPECT_EQ(json::parse(res.body), (json{{"status", "ok"}}));
}

TEST_F(echo_server, echoes_what_it_received) {
  auto res = http(ep(), "POST", "/api/x?a=1&b=2", "hello",
                  {{"X-Correlation-ID", "abc"}});
  ASSERT_EQ(res.status, 200u);
  auto j = json::parse(res.body);
  EXPECT_EQ(j["name"], "orders-echo");
  EXPECT_EQ(j["port"], e.port);
  EXPECT_EQ(j["method"], "POST");
  EXPECT_EQ(j["path"], "/api/x");
  EXPECT_EQ(j["query"], "a=1&b=2");
  EXPECT_EQ(j["headers"]["x-correlation-id"], "abc");
  EXPECT_EQ(j["body"], "hello");
}

TEST_F(echo_server, control_changes_behaviour) {
  auto res = http(ep(), "POST", "/control", R"({"status": 503})");
  ASSERT_EQ(res.status, 200u) << res.body;
  EXPECT_EQ(http(ep(), "GET", "/x").status, 503u);
  http(ep(), "POST", "/control", R"({"status": 0, "failRate": 1})");
  EXPECT_EQ(http(ep(), "GET", "/x").status, 500u);
  http(ep(), "POST", "/control", R"({"failRate": 0, "healthStatus": 500})");
  EXPECT_EQ(http(ep(), "GET", "/health").status, 500u);
  EXPECT_EQ(http(ep(), "GET", "/x").status, 200u);
  auto state = json::parse(http(ep(), "GET", "/control").body);
  EXPECT_EQ(state["healthStatus"], 500);
  EXPECT_EQ(state["requests"], 3);  // /x three times
}

TEST_F(echo_server, a_delay_holds_one_request_not_the_server) {
  http(ep(), "POST", "/control", R"({"delayMs": 300})");
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(http(ep(), "GET", "/slow").status, 200u);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, 300ms);
  EXPECT_EQ(http(ep(), "GET", "/health").status,
            200u);  // health is not delayed
}

TEST_F(echo_server, bad_control_is_rejected_and_changes_nothing) {
  for (auto body : {R"({"delayMs": -1})", R"({"status": 42})",
                    R"({"failRate": 2})", R"({"colour": "red"})", "{"}) {
    auto res = http(ep(), "POST", "/control", body);
    EXPECT_EQ(res.status, 400u) << body;
    EXPECT_EQ(json::parse(res.body)["error"]["code"], "invalid_argument");
  }
  auto state = json::parse(http(ep(), "GET", "/control").body);
  EXPECT_EQ(state["delayMs"], 0);
  EXPECT_EQ(state["status"], 0);
  EXPECT_EQ(state["healthStatus"], 200);
}
