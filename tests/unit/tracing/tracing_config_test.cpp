// The config's `tracing` object: defaults, every key, and bad values
// rejected with the key named.

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "runtime/config/config.hpp"

using namespace valmesh;
using json = nlohmann::json;

TEST(tracing_config, defaults) {
  auto cfg = default_config();
  EXPECT_TRUE(cfg.tracing.enabled);
  EXPECT_EQ(cfg.tracing.sampler, "parent-based");
  EXPECT_EQ(cfg.tracing.buffer_capacity, 10000u);
  EXPECT_TRUE(cfg.tracing.otlp_endpoint.empty());
  EXPECT_EQ(cfg.tracing.exporter.batch_size, 512u);
  EXPECT_EQ(cfg.tracing.exporter.interval, std::chrono::seconds{5});
}

TEST(tracing_config, parses_every_key) {
  auto cfg =
      parse_config({{"tracing",
                     {{"enabled", false},
                      {"sampler", "ratio:0.25"},
                      {"bufferCapacity", 500},
                      {"otlpEndpoint", "http://127.0.0.1:4318/v1/traces"},
                      {"exportBatchSize", 64},
                      {"exportInterval", "250ms"},
                      {"exportQueueSize", 1000},
                      {"exportMaxRetries", 1},
                      {"exportTimeout", "2s"}}}});
  ASSERT_TRUE(cfg) << cfg.error().message;
  auto& t = cfg->tracing;
  EXPECT_FALSE(t.enabled);
  EXPECT_EQ(t.sampler, "ratio:0.25");
  EXPECT_EQ(t.buffer_capacity, 500u);
  EXPECT_EQ(t.otlp_endpoint, "http://127.0.0.1:4318/v1/traces");
  EXPECT_EQ(t.exporter.batch_size, 64u);
  EXPECT_EQ(t.exporter.interval, std::chrono::milliseconds{250});
  EXPECT_EQ(t.exporter.queue_size, 1000u);
  EXPECT_EQ(t.exporter.max_retries, 1u);
  EXPECT_EQ(t.exporter.timeout, std::chrono::seconds{2});
}

TEST(tracing_config, rejects_bad_values_naming_the_key) {
  auto fails_with = [](const json& tracing, const std::string& key) {
    auto cfg = parse_config({{"tracing", tracing}});
    ASSERT_FALSE(cfg) << tracing.dump();
    EXPECT_NE(cfg.error().message.find("'" + key + "'"), std::string::npos)
        << cfg.error().message;
  };
  fails_with({{"sampler", "sometimes"}}, "tracing.sampler");
  fails_with({{"sampler", "ratio:2"}}, "tracing.sampler");
  fails_with({{"bufferCapacity", 0}}, "tracing.bufferCapacity");
  fails_with({{"bufferCapacity", "big"}}, "tracing.bufferCapacity");
  fails_with({{"otlpEndpoint", "https://x/v1/traces"}}, "tracing.otlpEndpoint");
  fails_with({{"exportInterval", "soon"}}, "tracing.exportInterval");
  fails_with({{"exportBatchSize", 100}, {"exportQueueSize", 10}},
             "tracing.exportQueueSize");
  fails_with({{"color", "red"}}, "tracing.color");
  fails_with("on", "tracing");
}

TEST(tracing_config, validate_checks_what_flags_set) {
  auto cfg = default_config();
  cfg.tracing.sampler = "ratio:x";
  auto v = validate_config(cfg);
  ASSERT_FALSE(v);
  EXPECT_NE(v.error().message.find("tracing.sampler"), std::string::npos);
}
