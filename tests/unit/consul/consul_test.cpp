// The Consul translation (runtime/consul/): durations, blocking-query
// parameters, registration bodies, JSON shapes, and the per-key indexes of
// blocking queries.

#include <gtest/gtest.h>

#include "runtime/consul/consul.hpp"
#include "runtime/consul/watch_index.hpp"

using namespace valmesh;
using namespace valmesh::consul;
using namespace std::chrono_literals;

TEST(consul_duration, parses_go_durations) {
  EXPECT_EQ(parse_go_duration("0"), 0ms);
  EXPECT_EQ(parse_go_duration("250ms"), 250ms);
  EXPECT_EQ(parse_go_duration("10s"), 10s);
  EXPECT_EQ(parse_go_duration("5m"), 5min);
  EXPECT_EQ(parse_go_duration("1h"), 1h);
  EXPECT_EQ(parse_go_duration("1.5s"), 1500ms);
  EXPECT_EQ(parse_go_duration("2m30s"), 150s);
  EXPECT_EQ(parse_go_duration("1h0m0s"), 1h);
  EXPECT_EQ(parse_go_duration("1500000us"), 1500ms);
  EXPECT_EQ(parse_go_duration("2000000000ns"), 2s);
  for (auto bad : {"", "10", "s", "-1s", "1x", "1.s5", "ten seconds", "1 s"})
    EXPECT_FALSE(parse_go_duration(bad)) << bad;
}

TEST(consul_duration, formats_as_go_does) {
  EXPECT_EQ(format_go_duration(0ms), "0s");
  EXPECT_EQ(format_go_duration(250ms), "250ms");
  EXPECT_EQ(format_go_duration(10s), "10s");
  EXPECT_EQ(format_go_duration(1500ms), "1.5s");
  EXPECT_EQ(format_go_duration(90s), "1m30s");
  EXPECT_EQ(format_go_duration(2h), "2h0m0s");
  for (std::chrono::milliseconds d :
       {0ms, 1ms, 999ms, 1000ms, 61000ms, 3601001ms})
    EXPECT_EQ(parse_go_duration(format_go_duration(d)), d);
}

TEST(consul_blocking, defaults_caps_and_rejects) {
  auto q = parse_blocking_query(std::nullopt, std::nullopt);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->index, 0u);
  EXPECT_EQ(q->wait, 5min);
  q = parse_blocking_query(std::string{"42"}, std::string{"2s"});
  ASSERT_TRUE(q);
  EXPECT_EQ(q->index, 42u);
  EXPECT_EQ(q->wait, 2s);
  q = parse_blocking_query(std::string{"1"}, std::string{"1h"});
  ASSERT_TRUE(q);
  EXPECT_EQ(q->wait, 10min);  // at most 10 minutes
  auto bad = parse_blocking_query(std::string{"1"}, std::string{"soon"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "Invalid wait time");
  bad = parse_blocking_query(std::string{"-3"}, std::nullopt);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message, "Invalid index");
  EXPECT_FALSE(parse_blocking_query(std::string{"99999999999999999999999"},
                                    std::nullopt));
}

TEST(consul_blocking, jitter_adds_at_most_a_sixteenth) {
  for (uint64_t r : {0ull, 1ull, 62ull, 63ull, 1000ull, ~0ull}) {
    auto d = with_jitter(1600ms, r);
    EXPECT_GE(d, 1600ms);
    EXPECT_LE(d, 1700ms);
  }
  EXPECT_EQ(with_jitter(10ms, 7), 10ms);
}

TEST(consul_registration, keys_match_case_insensitively_and_snake_case) {
  auto j = nlohmann::json::parse(R"({
    "name": "web", "ID": "web-1", "aDdReSs": "10.0.0.7", "port": 8080,
    "tags": ["a", "b"], "Meta": {"Version": "2"},
    "check": {"ttl": "15s", "deregister_critical_service_after": "1m",
              "STATUS": "passing", "check_id": "web-ttl"}})");
  auto r = parse_registration(j, "127.0.0.1");
  ASSERT_TRUE(r) << r.error().message;
  auto& x = r->instance;
  EXPECT_EQ(x.name, "web");
  EXPECT_EQ(x.id, "web-1");
  EXPECT_EQ(x.host, "10.0.0.7");
  EXPECT_EQ(x.port, 8080);
  EXPECT_EQ(x.tags, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(x.metadata.at("Version"), "2");  // Meta's keys are data: kept
  EXPECT_EQ(x.ttl_ms, 15000);
  EXPECT_TRUE(x.health_endpoint.empty());  // no active check
  ASSERT_EQ(r->checks.size(), 1u);
  EXPECT_EQ(r->checks[0].id, "web-ttl");
  EXPECT_EQ(r->checks[0].deregister_after, 1min);
  EXPECT_EQ(r->initial_status, health_status::passing);
}

TEST(consul_registration, defaults_as_consul) {
  auto r = parse_registration({{"Name", "api"}, {"Port", 9000}}, "127.0.0.9");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->instance.id, "api");  // ID defaults to the name
  EXPECT_EQ(r->instance.host, "127.0.0.9");
  EXPECT_TRUE(r->checks.empty());
  // No checks: Consul counts the service healthy.
  EXPECT_EQ(r->initial_status, health_status::passing);
}

TEST(consul_registration, http_and_ttl_checks_number_their_ids) {
  auto j = nlohmann::json::parse(R"({
    "Name": "api", "ID": "api-1", "Address": "127.0.0.1", "Port": 9000,
    "Checks": [{"HTTP": "http://127.0.0.1:9000/healthz?x=1", "Interval": "5s",
                "Timeout": "1s"},
               {"TTL": "30s", "Name": "heartbeat"}]})");
  auto r = parse_registration(j, "127.0.0.1");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->instance.health_endpoint, "/healthz?x=1");
  EXPECT_EQ(r->instance.ttl_ms, 30000);
  EXPECT_EQ(r->checks[0].id, "service:api-1:1");
  EXPECT_EQ(r->checks[1].id, "service:api-1:2");
  EXPECT_FALSE(r->initial_status);  // new checks start critical
  auto t = find_check({r->instance}, "service:api-1:2");
  ASSERT_TRUE(t);
  EXPECT_TRUE(t->ttl);
  EXPECT_EQ(t->service, "api");
  auto h = find_check({r->instance}, "service:api-1:1");
  ASSERT_TRUE(h);
  EXPECT_FALSE(h->ttl);
  EXPECT_FALSE(find_check({r->instance}, "service:other"));
}

TEST(consul_registration, rejects_bad_and_unsupported_input) {
  auto bad = [](const char* text) {
    auto r = parse_registration(nlohmann::json::parse(text), "127.0.0.1");
    return r ? std::string{} : r.error().message;
  };
  EXPECT_EQ(bad(R"({"Port": 1})"), "Missing service name");
  EXPECT_NE(bad(R"([])"), "");
  EXPECT_NE(bad(R"({"Name": "a"})"), "");  // valmesh needs a port
  EXPECT_NE(bad(R"({"Name": "a", "Port": "80"})"), "");
  EXPECT_NE(bad(R"({"Name": "a", "Port": 80, "Bogus": 1})"), "");
  EXPECT_NE(bad(R"({"Name": "a", "Port": 80, "Tags": "x"})"), "");
  EXPECT_NE(bad(R"({"Name": "a", "Port": 80, "Meta": {"consul-x": "1"}})"), "");
  EXPECT_NE(bad(R"({"Name": "a", "Port": 80, "Kind": "connect-proxy"})"), "");
  EXPECT_NE(bad(R"({"Name": "a", "Port": 80, "Check": {"TCP": "h:1",
                    "Interval": "1s"}})"),
            "");
  EXPECT_EQ(bad(R"({"Name": "a", "Port": 80, "Check": {"HTTP": "http://h/",
                    "Interval": "0s"}})"),
            "Interval must be > 0 for Script, HTTP, or TCP checks");
  EXPECT_NE(bad(R"({"Name": "a", "Port": 80, "Check": {"TTL": "soon"}})"), "");
  EXPECT_NE(bad(R"({"Name": "a", "Port": 80, "Check": {"TTL": "5s",
                    "Status": "great"}})"),
            "");
  EXPECT_NE(bad(R"({"Name": "bad name", "Port": 80})"), "");
}

namespace {

service_instance sample() {
  auto j = nlohmann::json::parse(R"({
    "Name": "web", "ID": "web-1", "Address": "10.0.0.7", "Port": 8080,
    "Tags": ["b", "a"], "Meta": {"team": "x"}, "Weights": {"Passing": 3},
    "Check": {"TTL": "15s"}})");
  auto r = parse_registration(j, "127.0.0.1");
  EXPECT_TRUE(r);
  auto x = r->instance;
  x.create_index = 4;
  x.modify_index = 9;
  x.node = "node-a";
  return x;
}

}  // namespace

TEST(consul_json, agent_service_has_consul_fields_and_types) {
  auto j = agent_service_json(sample());
  EXPECT_EQ(j["ID"], "web-1");
  EXPECT_EQ(j["Service"], "web");
  EXPECT_EQ(j["Tags"], nlohmann::json({"b", "a"}));
  EXPECT_EQ(j["Meta"],
            nlohmann::json({{"team", "x"}}));  // reserved keys hidden
  EXPECT_TRUE(j["Port"].is_number_integer());
  EXPECT_EQ(j["Address"], "10.0.0.7");
  EXPECT_EQ(j["Weights"], nlohmann::json({{"Passing", 3}, {"Warning", 1}}));
  EXPECT_EQ(j["EnableTagOverride"], false);
  EXPECT_EQ(j["Datacenter"], "dc1");
}

TEST(consul_json, health_entry_has_node_service_and_checks) {
  auto x = sample();
  x.status = health_status::warning;
  auto j = health_entry_json(x, {"node-a", "127.0.0.1"});
  EXPECT_EQ(j["Node"]["Node"], "node-a");
  EXPECT_EQ(j["Node"]["Address"], "127.0.0.1");
  EXPECT_EQ(j["Node"]["Datacenter"], "dc1");
  EXPECT_EQ(j["Node"]["ID"].get<std::string>().size(), 36u);
  EXPECT_EQ(j["Service"]["ID"], "web-1");
  EXPECT_EQ(j["Service"]["Port"], 8080);
  ASSERT_EQ(j["Checks"].size(), 2u);
  EXPECT_EQ(j["Checks"][0]["CheckID"], "serfHealth");
  EXPECT_EQ(j["Checks"][1]["CheckID"], "service:web-1");
  EXPECT_EQ(j["Checks"][1]["Status"], "warning");
  EXPECT_EQ(j["Checks"][1]["Type"], "ttl");
  EXPECT_EQ(j["Checks"][1]["ServiceID"], "web-1");
  EXPECT_EQ(j["Checks"][1]["ModifyIndex"], 9);
  // A new check (unknown to valmesh) is critical to Consul.
  x.status = health_status::unknown;
  EXPECT_EQ(health_entry_json(x, {"n", "h"})["Checks"][1]["Status"],
            "critical");
}

TEST(consul_json, catalog_service_and_services) {
  auto x = sample();
  auto j = catalog_service_json(x, {"node-a", "127.0.0.1"});
  EXPECT_EQ(j["Node"], "node-a");
  EXPECT_EQ(j["ServiceID"], "web-1");
  EXPECT_EQ(j["ServiceName"], "web");
  EXPECT_EQ(j["ServiceAddress"], "10.0.0.7");
  EXPECT_EQ(j["ServicePort"], 8080);
  EXPECT_EQ(j["ServiceTags"], nlohmann::json({"b", "a"}));
  auto y = x;
  y.id = "web-2";
  y.tags = {"c"};
  auto z = x;
  z.name = "db";
  z.tags = {};
  EXPECT_EQ(catalog_services_json({x, y, z}),
            nlohmann::json(
                {{"web", {"a", "b", "c"}}, {"db", nlohmann::json::array()}}));
}

TEST(consul_json, node_ids_are_stable_uuids) {
  auto a = node_id("node-a");
  EXPECT_EQ(a, node_id("node-a"));
  EXPECT_NE(a, node_id("node-b"));
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[8], '-');
  EXPECT_EQ(a[13], '-');
}

TEST(consul_filter, passing_tags_and_node_meta) {
  auto x = sample();
  x.status = health_status::passing;
  health_filter f;
  f.passing = true;
  EXPECT_TRUE(admits(f, x));
  x.status = health_status::warning;
  EXPECT_FALSE(admits(f, x));  // Consul's ?passing: passing only
  f = {};
  f.tags = {"a", "b"};
  EXPECT_TRUE(admits(f, x));
  f.tags = {"a", "zzz"};
  EXPECT_FALSE(admits(f, x));
  f = {};
  f.node_meta = {{"rack", "1"}};
  EXPECT_FALSE(admits(f, x));
}

TEST(consul_keys, fold_ignores_case_and_underscores) {
  EXPECT_EQ(fold_key("DeregisterCriticalServiceAfter"),
            fold_key("deregister_critical_service_after"));
  EXPECT_EQ(fold_key("CheckID"), "checkid");
}

TEST(watch_index, one_index_per_key) {
  watch_index w;
  EXPECT_EQ(w.index("svc/a"), 1u);
  auto n = w.bump({"svc/a", "all"});
  EXPECT_GT(n, 1u);
  EXPECT_EQ(w.index("svc/a"), n);
  EXPECT_EQ(w.index("all"), n);
  EXPECT_EQ(w.index("svc/b"), 1u);  // untouched
  auto m = w.bump({"svc/b"});
  EXPECT_GT(m, n);
  EXPECT_EQ(w.index("svc/a"), n);
  EXPECT_EQ(w.last(), m);
}

TEST(watch_index, wakes_only_the_waiters_of_the_changed_key) {
  watch_index w;
  uint64_t a = 0, b = 0;
  auto ta = w.wait("svc/a", 1, [&](uint64_t i) { a = i; });
  auto tb = w.wait("svc/b", 1, [&](uint64_t i) { b = i; });
  EXPECT_NE(ta, 0u);
  EXPECT_NE(tb, 0u);
  EXPECT_EQ(w.waiting(), 2u);
  auto n = w.bump({"svc/a"});
  EXPECT_EQ(a, n);
  EXPECT_EQ(b, 0u);  // another service: still waiting
  EXPECT_EQ(w.waiting(), 1u);
  EXPECT_FALSE(w.cancel(ta));  // already woken
  EXPECT_TRUE(w.cancel(tb));
  EXPECT_FALSE(w.cancel(tb));
  w.bump({"svc/b"});
  EXPECT_EQ(b, 0u);  // cancelled: never runs
}

TEST(watch_index, a_stale_index_wakes_at_once) {
  watch_index w;
  auto n = w.bump({"svc/a"});
  uint64_t got = 0;
  EXPECT_EQ(w.wait("svc/a", n - 1, [&](uint64_t i) { got = i; }), 0u);
  EXPECT_EQ(got, n);
  // An index from the future (a restarted node) waits, as Consul's do.
  EXPECT_NE(w.wait("svc/a", n + 100, [&](uint64_t i) { got = i + 1; }), 0u);
  EXPECT_EQ(got, n);
  w.release_all();
  EXPECT_EQ(got, n + 1);
  EXPECT_EQ(w.waiting(), 0u);
}
