#include "runtime/config/config.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace valmesh;
using namespace std::chrono_literals;
using json = nlohmann::json;

TEST(config, defaults_give_a_working_loopback_node) {
  auto cfg = default_config();
  EXPECT_FALSE(cfg.node_name.empty());
  EXPECT_EQ(cfg.http, (endpoint{"127.0.0.1", 8700}));
  EXPECT_EQ(cfg.cluster, (endpoint{"127.0.0.1", 8701}));
  EXPECT_EQ(cfg.data_dir, "./valmesh-data");
  EXPECT_EQ(cfg.health.interval, 30s);
  EXPECT_EQ(cfg.health.timeout, 5s);
  EXPECT_EQ(cfg.health.failures_before_critical, 2u);
  EXPECT_EQ(cfg.health.success_before_passing, 1u);
  EXPECT_EQ(cfg.health.deregister_critical_after, 60s);
  EXPECT_EQ(cfg.drain_timeout, 10s);
  EXPECT_EQ(cfg.log_level, "info");
  EXPECT_EQ(cfg.log_format, "text");
  EXPECT_EQ(cfg.http_body_limit, 1024u * 1024u);
  EXPECT_TRUE(cfg.token.empty());
  EXPECT_TRUE(validate_config(cfg));
}

TEST(config, parses_every_key) {
  auto j = json::parse(R"({
    "node_name": "node-a", "http": "127.0.0.1:0", "cluster": "[::1]:9701",
    "join": ["10.0.0.1:8701", "10.0.0.2:8701"], "data_dir": "/tmp/x",
    "dev": true, "token": "s3cret", "health_interval": "10s",
    "log_level": "debug", "log_format": "json", "drain_timeout": "2s",
    "enable_fault_injection": true, "http_threads": 2, "actor_threads": 3,
    "http_read_timeout": "250ms", "http_body_limit": 4096,
    "health": {"timeout": "1s", "failuresBeforeCritical": 3,
               "successBeforePassing": 2, "deregisterCriticalAfter": "5m"},
    "services": [{"name": "orders", "host": "127.0.0.1", "port": 6000}]
  })");
  auto cfg = parse_config(j);
  ASSERT_TRUE(cfg) << cfg.error().message;
  EXPECT_EQ(cfg->node_name, "node-a");
  EXPECT_EQ(cfg->http, (endpoint{"127.0.0.1", 0}));
  EXPECT_EQ(cfg->cluster, (endpoint{"::1", 9701}));
  EXPECT_EQ(cfg->cluster.to_string(), "[::1]:9701");
  ASSERT_EQ(cfg->join.size(), 2u);
  EXPECT_EQ(cfg->join[1].host, "10.0.0.2");
  EXPECT_TRUE(cfg->dev);
  EXPECT_EQ(cfg->token, "s3cret");
  EXPECT_EQ(cfg->health.interval, 10s);
  EXPECT_EQ(cfg->health.timeout, 1s);
  EXPECT_EQ(cfg->health.failures_before_critical, 3u);
  EXPECT_EQ(cfg->health.success_before_passing, 2u);
  EXPECT_EQ(cfg->health.deregister_critical_after, 5min);
  EXPECT_EQ(cfg->log_format, "json");
  EXPECT_EQ(cfg->drain_timeout, 2s);
  EXPECT_TRUE(cfg->enable_fault_injection);
  EXPECT_EQ(cfg->http_threads, 2u);
  EXPECT_EQ(cfg->actor_threads, 3u);
  EXPECT_EQ(cfg->http_read_timeout, 250ms);
  EXPECT_EQ(cfg->http_body_limit, 4096u);
  ASSERT_EQ(cfg->services.size(), 1u);
  EXPECT_EQ(cfg->services[0].name, "orders");
}

TEST(config, rejects_bad_values_naming_the_key) {
  auto rejected = [](const char* text, const std::string& key) {
    auto cfg = parse_config(json::parse(text));
    ASSERT_FALSE(cfg) << text;
    EXPECT_EQ(cfg.error().code, errc::invalid_argument);
    EXPECT_NE(cfg.error().message.find("'" + key + "'"), std::string::npos)
        << cfg.error().message;
  };
  rejected(R"({"htp": "127.0.0.1:1"})", "htp");
  rejected(R"({"http": "localhost"})", "http");
  rejected(R"({"http": "127.0.0.1:70000"})", "http");
  rejected(R"({"http": 8700})", "http");
  rejected(R"({"cluster": ":8701"})", "cluster");
  rejected(R"({"consul_http": "8500"})", "consul_http");
  rejected(R"({"join": "127.0.0.1:1"})", "join");
  rejected(R"({"join": ["nope"]})", "join");
  rejected(R"({"health_interval": "30"})", "health_interval");
  rejected(R"({"drain_timeout": "-1s"})", "drain_timeout");
  rejected(R"({"dev": "yes"})", "dev");
  rejected(R"({"log_level": "loud"})", "log_level");
  rejected(R"({"log_format": "xml"})", "log_format");
  rejected(R"({"http_threads": 0})", "http_threads");
  rejected(R"({"health": {"timeout": "5"}})", "health.timeout");
  rejected(R"({"health": {"interval": "0s"}})", "health.interval");
  rejected(R"({"health": {"color": "red"}})", "health.color");
  rejected(R"({"services": [{"name": "bad name", "host": "h", "port": 1}]})",
           "services[0]");
  rejected(R"({"services": {}})", "services");
}

TEST(config, consul_http_is_an_optional_second_listener) {
  EXPECT_FALSE(default_config().consul_http);
  auto cfg = parse_config(json::parse(R"({"consul_http": "127.0.0.1:8500"})"));
  ASSERT_TRUE(cfg) << cfg.error().message;
  ASSERT_TRUE(cfg->consul_http);
  EXPECT_EQ(*cfg->consul_http, (endpoint{"127.0.0.1", 8500}));
}

TEST(config, parses_endpoints) {
  EXPECT_EQ(*parse_endpoint("127.0.0.1:8700"), (endpoint{"127.0.0.1", 8700}));
  EXPECT_EQ(*parse_endpoint("[::1]:0"), (endpoint{"::1", 0}));
  EXPECT_EQ(*parse_endpoint("example.com:80"), (endpoint{"example.com", 80}));
  for (auto bad : {"", ":80", "host:", "host", "host:port", "a:1:2",
                   "[::1]8700", "host:123456", "host:-1"})
    EXPECT_FALSE(parse_endpoint(bad)) << bad;
}

TEST(config, reads_the_shipped_example) {
  auto cfg = load_config_file(VALMESH_SOURCE_DIR "/examples/valmesh.json");
  ASSERT_TRUE(cfg) << cfg.error().message;
  std::vector<std::string> names;
  for (auto& s : cfg->services) names.push_back(s.name);
  EXPECT_EQ(names, (std::vector<std::string>{"mcp-universal", "ollama-mcp",
                                             "groq-api", "qwen-valencia-api"}));
}

TEST(config, a_missing_or_broken_file_is_an_error) {
  EXPECT_FALSE(load_config_file("/nonexistent/valmesh.json"));
  EXPECT_FALSE(load_config_file(VALMESH_SOURCE_DIR "/CMakeLists.txt"));
}
