#include "runtime/registry/service_instance.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

using namespace valmesh;
using json = nlohmann::json;

namespace {

json minimal() {
  return {{"name", "orders"}, {"host", "127.0.0.1"}, {"port", 6000}};
}

/// Asserts that `j` is rejected and that the message mentions `word`.
void expect_rejected(const json& j, const std::string& word) {
  auto x = parse_instance(j);
  ASSERT_FALSE(x) << j.dump();
  EXPECT_EQ(x.error().code, errc::invalid_argument);
  EXPECT_NE(x.error().message.find(word), std::string::npos)
      << x.error().message;
}

}  // namespace

TEST(service_instance, parses_a_full_registration) {
  auto j = minimal();
  j["id"] = "orders-1";
  j["version"] = "1.4.2";
  j["weight"] = 5;
  j["tags"] = {"a", "b"};
  j["metadata"] = {{"k", "v"}};
  j["ttl"] = "60s";
  j["healthEndpoint"] = "/ready";
  auto x = parse_instance(j);
  ASSERT_TRUE(x) << x.error().message;
  EXPECT_EQ(x->id, "orders-1");
  EXPECT_EQ(x->port, 6000);
  EXPECT_EQ(x->weight, 5u);
  EXPECT_EQ(x->ttl_ms, 60'000);
  EXPECT_EQ(x->tags, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(x->metadata.at("k"), "v");
  EXPECT_EQ(x->health_endpoint, "/ready");
}

TEST(service_instance, applies_defaults) {
  auto x = parse_instance(minimal());
  ASSERT_TRUE(x);
  EXPECT_EQ(x->protocol, "http");
  EXPECT_EQ(x->health_endpoint, "/health");
  EXPECT_EQ(x->weight, 1u);
  EXPECT_EQ(x->ttl_ms, 0);
  EXPECT_TRUE(x->id.empty());
}

TEST(service_instance, validates_names) {
  EXPECT_TRUE(valid_service_name("a"));
  EXPECT_TRUE(valid_service_name("qwen-valencia-api"));
  EXPECT_TRUE(valid_service_name("a.b_c-d9"));
  EXPECT_TRUE(valid_service_name(std::string(63, 'x')));
  EXPECT_FALSE(valid_service_name(std::string(64, 'x')));
  EXPECT_FALSE(valid_service_name(""));
  EXPECT_FALSE(valid_service_name("-a"));
  EXPECT_FALSE(valid_service_name(".a"));
  EXPECT_FALSE(valid_service_name("a b"));
  EXPECT_FALSE(valid_service_name("a/b"));
  EXPECT_FALSE(valid_service_name("ñ"));
}

TEST(service_instance, rejects_bad_input_with_a_message_naming_the_field) {
  auto with = [](const char* key, json v) {
    auto j = minimal();
    j[key] = std::move(v);
    return j;
  };
  auto without = [](const char* key) {
    auto j = minimal();
    j.erase(key);
    return j;
  };
  expect_rejected(json::array(), "object");
  expect_rejected(without("name"), "name");
  expect_rejected(without("host"), "host");
  expect_rejected(without("port"), "port");
  expect_rejected(with("name", "bad name"), "name");
  expect_rejected(with("name", 7), "name");
  expect_rejected(with("port", 0), "port");
  expect_rejected(with("port", 70000), "port");
  expect_rejected(with("port", -1), "port");
  expect_rejected(with("port", "6000"), "port");
  expect_rejected(with("port", 60.5), "port");
  expect_rejected(with("host", ""), "host");
  expect_rejected(with("host", std::string(254, 'h')), "host");
  expect_rejected(with("host", "a b"), "host");
  expect_rejected(with("weight", 0), "weight");
  expect_rejected(with("weight", 1001), "weight");
  expect_rejected(with("protocol", "grpc"), "protocol");
  expect_rejected(with("healthEndpoint", "health"), "healthEndpoint");
  expect_rejected(with("ttl", "soon"), "ttl");
  expect_rejected(with("ttl", 60), "ttl");
  expect_rejected(with("ttl", "0s"), "ttl");
  expect_rejected(with("tags", "a"), "tags");
  expect_rejected(with("tags", {1, 2}), "tags");
  expect_rejected(with("metadata", {{"k", 1}}), "metadata");
  expect_rejected(with("id", "has space"), "id");
  expect_rejected(with("surprise", 1), "surprise");
}

TEST(service_instance, accepts_its_own_rendering) {
  auto x = parse_instance(minimal());
  ASSERT_TRUE(x);
  x->id = "orders-1";
  x->status = health_status::passing;
  x->node = "node-a";
  auto back = parse_stored_instance(to_json(*x));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->id, "orders-1");
  EXPECT_EQ(back->status, health_status::passing);
  EXPECT_EQ(back->node, "node-a");
}

TEST(service_instance, renders_spec_fields) {
  service_instance x;
  x.id = "orders-1";
  x.name = "orders";
  x.host = "127.0.0.1";
  x.port = 6000;
  x.ttl_ms = 60'000;
  x.registered_at_ms = 1'700'000'000'123;
  auto j = to_json(x);
  for (auto key :
       {"id", "name", "version", "host", "port", "protocol", "healthEndpoint",
        "weight", "tags", "metadata", "ttl", "status", "registeredAt",
        "lastHeartbeat", "lastCheck", "node", "activeRequests"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["ttl"], "60s");
  EXPECT_EQ(j["status"], "unknown");
  EXPECT_EQ(j["registeredAt"], "2023-11-14T22:13:20.123Z");
  EXPECT_TRUE(j["lastHeartbeat"].is_null());
}
