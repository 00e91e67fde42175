#include "http/api.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <mutex>
#include <tuple>

#include <nlohmann/json.hpp>

#include "actors/bridge.hpp"
#include "actors/events.hpp"
#include "actors/health.hpp"
#include "actors/mesh_supervisor.hpp"
#include "http/api_util.hpp"
#include "http/stats_api.hpp"
#include "runtime/common/version.hpp"
#include "runtime/consul/consul.hpp"

namespace valmesh::web {

namespace {

using verb = beast_http::verb;
using ctx_ptr = std::shared_ptr<const api_context>;

template <class R, class OnOk, class... Ts>
void ask_registry(const ctx_ptr& ctx, responder done, OnOk on_ok, Ts... args) {
  ask<R>(ctx, ctx->actors->registry(), "registry", std::move(done),
         std::move(on_ok), std::move(args)...);
}

bool is_mutation(verb v) noexcept {
  return v != verb::get && v != verb::head && v != verb::options;
}

/// Wraps a handler with the token rule for mutating methods.
route_handler guarded(const ctx_ptr& ctx, route_handler h) {
  if (ctx->token.empty()) return h;
  return [ctx, h = std::move(h)](request_context&& rc, responder done) {
    if (is_mutation(rc.req.method())) {
      if (auto f = check_token(rc.req, ctx->token)) {
        reply_error(done, *f);
        return;
      }
    }
    h(std::move(rc), std::move(done));
  };
}

json instances_json(const std::vector<service_instance>& xs) {
  auto arr = json::array();
  for (auto& x : xs) arr.push_back(to_json(x));
  return arr;
}

// -- handlers -----------------------------------------------------------------

/// Answers `j` with the blocking-query index of what it shows.
void reply_indexed(const responder& done, const json& j, uint64_t index) {
  auto res = make_json_response(200, to_body(j), done.version());
  res.set("X-Valmesh-Index", std::to_string(index));
  done(std::move(res));
}

/// Runs `read(index)` now, or as a blocking query when the request has
/// `index` (and `wait`, 5m by default, 10m at most), as Consul's reads do.
template <class Read>
void maybe_blocking(const ctx_ptr& ctx, const request_context& rc,
                    const responder& done, const std::string& key, Read read) {
  auto q = consul::parse_blocking_query(rc.query("index"), rc.query("wait"));
  if (!q)
    return reply_error(
        done, {errc::invalid_argument,
               q.error().message == "Invalid index"
                   ? "'index' must be a number (an X-Valmesh-Index)"
                   : "'wait' must be a duration like \"30s\" (at most 10m)"});
  if (!read_when_changed(ctx->long_poll, key, q->index, q->wait,
                         std::move(read)))
    reply_error(done, {errc::unavailable,
                       "too many blocking queries: the node holds at most " +
                           std::to_string(ctx->long_poll.max_held) +
                           " at once (max_blocking_queries)"});
}

void list_services(const ctx_ptr& ctx, request_context&& rc, responder done) {
  maybe_blocking(ctx, rc, done, watch_keys::all, [ctx, done](uint64_t index) {
    ask_registry<std::vector<service_summary>>(
        ctx, done,
        [index](std::vector<service_summary>& xs, const responder& done) {
          auto arr = json::array();
          for (auto& x : xs) arr.push_back(to_json(x));
          reply_indexed(done, {{"services", std::move(arr)}}, index);
        },
        list_atom::value);
  });
}

void register_service(const ctx_ptr& ctx, request_context&& rc,
                      responder done) {
  auto body = parse_body(rc.req);
  if (!body) return reply_error(done, body.error());
  auto x = parse_instance(*body);
  if (!x) return reply_error(done, x.error());
  ask_registry<service_instance>(
      ctx, std::move(done),
      [](service_instance& stored, const responder& done) {
        auto res =
            make_json_response(201, to_body(to_json(stored)), done.version());
        res.set(beast_http::field::location,
                "/api/services/" + stored.name + "/" + stored.id);
        done(std::move(res));
      },
      register_atom::value, std::move(*x));
}

/// Fills `activeRequests` from the mesh: the calls in flight through this
/// node's bulkhead of the service, per instance (the registry does not see
/// calls).
void add_active_requests(const ctx_ptr& ctx, const std::string& service,
                         std::vector<service_instance>& xs) {
  auto entry = ctx->actors->bulkheads().find(service);
  if (!entry) return;
  auto view = entry.gate->view(service);
  for (auto& x : xs)
    for (auto& m : view.members)
      if (m.id == x.id) x.active_requests = m.in_flight;
}

void get_service(const ctx_ptr& ctx, request_context&& rc, responder done) {
  std::string name{rc.param("name")};
  maybe_blocking(
      ctx, rc, done, watch_keys::service(name),
      [ctx, done, name](uint64_t index) {
        ask_registry<std::vector<service_instance>>(
            ctx, done,
            [ctx, name, index](std::vector<service_instance>& xs,
                               const responder& done) {
              add_active_requests(ctx, name, xs);
              reply_indexed(done,
                            {{"name", name}, {"instances", instances_json(xs)}},
                            index);
            },
            get_atom::value, name);
      });
}

void deregister_service(const ctx_ptr& ctx, request_context&& rc,
                        responder done) {
  ask_registry<service_instance>(
      ctx, std::move(done),
      [](service_instance&, const responder& done) {
        done(make_json_response(204, {}, done.version()));
      },
      deregister_atom::value, std::string{rc.param("name")},
      std::string{rc.param("id")});
}

void heartbeat(const ctx_ptr& ctx, request_context&& rc, responder done) {
  ask_registry<service_instance>(
      ctx, std::move(done),
      [](service_instance& x, const responder& done) {
        reply_json(done, 200, to_json(x));
      },
      heartbeat_atom::value, std::string{rc.param("name")},
      std::string{rc.param("id")});
}

void resolve(const ctx_ptr& ctx, request_context&& rc, responder done) {
  resolve_options opts;
  if (auto s = rc.query("strategy")) {
    auto strategy = parse_strategy(*s);
    if (!strategy)
      return reply_error(done,
                         {errc::invalid_argument,
                          "unknown strategy '" + *s +
                              "'; use round-robin, random, least-connections "
                              "or weighted"});
    opts.strategy = *strategy;
  }
  if (auto h = rc.query("healthyOnly")) {
    if (*h == "true" || h->empty())
      opts.healthy_only = true;
    else if (*h == "false")
      opts.healthy_only = false;
    else
      return reply_error(done, {errc::invalid_argument,
                                "'healthyOnly' must be true or false"});
  }
  ask_registry<service_instance>(
      ctx, std::move(done),
      [](service_instance& x, const responder& done) {
        reply_json(done, 200, to_json(x));
      },
      resolve_atom::value, std::string{rc.param("name")}, opts);
}

void node_health(const ctx_ptr& ctx, request_context&&, responder done) {
  // Liveness and readiness of this node: ready when the registry answers,
  // not ready while it drains for shutdown.
  if (ctx->draining != nullptr && ctx->draining->load())
    return reply_json(done, 503,
                      {{"status", "draining"},
                       {"node", ctx->node_name},
                       {"version", version}});
  ask_registry<std::vector<service_summary>>(
      ctx, std::move(done),
      [ctx](std::vector<service_summary>& xs, const responder& done) {
        json j = {{"status", "passing"},          {"node", ctx->node_name},
                  {"version", version},           {"http", ctx->http_addr},
                  {"cluster", ctx->cluster_addr}, {"services", xs.size()}};
        if (ctx->long_poll.watches)
          j["heldQueries"] = ctx->long_poll.watches->waiting();
        // Add the events hub's figures and the cluster's member counts when
        // they answer; without them the node is still alive and ready.
        auto events = ctx->actors->events();
        auto cluster = ctx->actors->cluster();
        auto bridge = ctx->actors->bridge();
        if (!bridge) return reply_json(done, 200, j);
        caf::anon_send(
            bridge, bridge_job{[events, cluster, done,
                                j](caf::event_based_actor* self) mutable {
              auto both =
                  std::make_shared<std::pair<json, int>>(std::move(j), 2);
              auto settle = [done, both] {
                if (--both->second == 0) reply_json(done, 200, both->first);
              };
              auto timeout = std::chrono::seconds{1};
              if (events)
                self->request(events, timeout, stats_atom::value)
                    .then(
                        [both, settle](uint64_t subscribers,
                                       uint64_t last_event) {
                          both->first["eventSubscribers"] = subscribers;
                          both->first["lastEventId"] = last_event;
                          settle();
                        },
                        [settle](caf::error&) { settle(); });
              else
                settle();
              if (cluster)
                self->request(cluster, timeout, members_atom::value)
                    .then(
                        [both, settle](std::vector<member>& xs) {
                          json counts = {{"alive", 0},
                                         {"suspect", 0},
                                         {"dead", 0},
                                         {"left", 0}};
                          for (auto& m : xs)
                            counts[std::string{to_string(m.status)}] =
                                counts[std::string{to_string(m.status)}]
                                    .get<int>() +
                                1;
                          both->first["members"] = std::move(counts);
                          settle();
                        },
                        [settle](caf::error&) { settle(); });
              else
                settle();
            }});
      },
      list_atom::value);
}

json counts_json(const std::map<health_status, uint32_t>& counts) {
  json j = {{"passing", 0}, {"warning", 0}, {"critical", 0}, {"unknown", 0}};
  for (auto& [s, n] : counts) j[std::string{to_string(s)}] = n;
  return j;
}

void health_aggregated(const ctx_ptr& ctx, request_context&&, responder done) {
  ask<health_view>(
      ctx, ctx->actors->health_aggregator(), "health aggregator",
      std::move(done),
      [](health_view& v, const responder& done) {
        json services = json::object();
        for (auto& s : v.services) {
          auto c = counts_json(s.counts);
          services[s.name] = {{"status", to_string(s.health)},
                              {"critical", s.critical},
                              {"instances", c}};
        }
        reply_json(done, 200,
                   {{"overall", to_string(v.overall)},
                    {"services", std::move(services)},
                    {"checkedAt", format_unix_ms(v.checked_at_ms)}});
      },
      get_atom::value);
}

void health_services(const ctx_ptr& ctx, request_context&&, responder done) {
  // This node's checkers know the figures of what it checks; the registry
  // knows every instance of the cluster, each with the member that checks
  // it (`checkedBy`).
  ask<std::vector<instance_check_view>>(
      ctx, ctx->actors->health_supervisor(), "health supervisor", done,
      [ctx](std::vector<instance_check_view>& views, const responder& done) {
        ask_registry<std::vector<service_instance>>(
            ctx, done,
            [ctx, views = std::move(views)](std::vector<service_instance>& all,
                                            const responder& done) {
              std::map<std::pair<std::string, std::string>,
                       const instance_check_view*>
                  mine;
              for (auto& v : views) mine[{v.service, v.id}] = &v;
              auto ms = [](auto us) {
                return static_cast<double>(us) / 1000.0;
              };
              json services = json::object();
              for (auto& v : views)
                services[v.service]["checkLatenessP99Ms"] =
                    ms(v.lateness_p99_us);
              for (auto& x : all) {  // ordered by service and id
                auto checker =
                    ctx->owners ? ctx->owners->owner_of(x) : ctx->node_name;
                auto i = mine.find({x.name, x.id});
                if (i == mine.end()) {
                  // Checked by another member (or not yet by this one): the
                  // status its writes said; the figures are the checker's.
                  services[x.name]["instances"].push_back({
                      {"id", x.id},
                      {"address", x.host + ":" + std::to_string(x.port)},
                      {"status", to_string(x.status)},
                      {"checkedBy", checker},
                      {"checks", nullptr},
                      {"failures", nullptr},
                      {"consecutiveFailures", nullptr},
                      {"successRate", nullptr},
                      {"lastDurationMs", nullptr},
                      {"meanDurationMs", nullptr},
                      {"p99DurationMs", nullptr},
                      {"lastOutput", x.last_check_output},
                      {"lastError", nullptr},
                      {"lastCheck", timestamp_or_null(x.last_check_ms)},
                      {"lastStatusChange", nullptr},
                  });
                  continue;
                }
                auto& v = *i->second;
                auto& st = v.stats;
                services[x.name]["instances"].push_back({
                    {"id", v.id},
                    {"address", v.address},
                    {"status", to_string(v.status)},
                    {"checkedBy", ctx->node_name},
                    {"checks", st.checks},
                    {"failures", st.failures},
                    {"consecutiveFailures", st.consecutive_failures},
                    {"successRate", st.success_rate()},
                    {"lastDurationMs", ms(st.last_duration.count())},
                    {"meanDurationMs", ms(st.mean_duration().count())},
                    {"p99DurationMs", ms(v.p99_duration_us)},
                    {"lastOutput", st.last_output},
                    {"lastError", st.last_error.empty() ? json(nullptr)
                                                        : json(st.last_error)},
                    {"lastCheck", timestamp_or_null(st.last_check_ms)},
                    {"lastStatusChange",
                     timestamp_or_null(st.last_status_change_ms)},
                });
              }
              reply_json(done, 200, {{"services", std::move(services)}});
            },
            snapshot_atom::value);
      },
      stats_atom::value);
}

/// `GET /api/mesh`: each service's bulkhead and its instances as the mesh
/// sees them (health, breaker, calls in flight), like Envoy's /clusters.
void mesh_state(const ctx_ptr& ctx, request_context&&, responder done) {
  ask<std::vector<bulkhead_view>>(
      ctx, ctx->actors->mesh_supervisor(), "mesh supervisor", std::move(done),
      [](std::vector<bulkhead_view>& xs, const responder& done) {
        std::sort(xs.begin(), xs.end(),
                  [](auto& a, auto& b) { return a.service < b.service; });
        auto services = json::array();
        for (auto& x : xs) {
          auto instances = json::array();
          for (auto& m : x.members)
            instances.push_back({{"id", m.id},
                                 {"address", m.address.to_string()},
                                 {"status", to_string(m.status)},
                                 {"breaker", to_string(m.breaker)},
                                 {"inFlight", m.in_flight},
                                 {"weight", m.weight}});
          services.push_back({{"name", x.service},
                              {"inFlight", x.in_flight},
                              {"queued", x.queued},
                              {"instances", std::move(instances)}});
        }
        reply_json(done, 200, {{"services", std::move(services)}});
      },
      stats_atom::value);
}

/// A label value in the text exposition format (backslash, quote and
/// newline escaped).
std::string label_value(std::string_view x) {
  std::string out;
  for (char c : x) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

/// `GET /metrics`: the counters and histograms of runtime/metrics/metrics.hpp, and
/// the catalog read from the registry at scrape time. A registry that does
/// not answer (restarting) leaves the catalog's series out, not the scrape.
void metrics_text(const ctx_ptr& ctx, request_context&&, responder done) {
  auto expose = [ctx] {
    return ctx->meter ? ctx->meter->expose() : std::string{};
  };
  ask_or<std::vector<service_summary>>(
      ctx, ctx->actors->registry(),
      [ctx, done, expose](std::vector<service_summary>& xs) {
        std::string text = expose();
        text +=
            "# HELP valmesh_services Services in the catalog\n"
            "# TYPE valmesh_services gauge\n"
            "valmesh_services " +
            std::to_string(xs.size()) +
            "\n"
            "# HELP valmesh_instances Instances in the catalog, by service\n"
            "# TYPE valmesh_instances gauge\n";
        for (auto& x : xs)
          text += "valmesh_instances{service=\"" + label_value(x.name) +
                  "\"} " + std::to_string(x.instance_count) + "\n";
        text +=
            "# HELP valmesh_instances_passing Passing instances, by service\n"
            "# TYPE valmesh_instances_passing gauge\n";
        for (auto& x : xs)
          text += "valmesh_instances_passing{service=\"" + label_value(x.name) +
                  "\"} " + std::to_string(x.passing_count) + "\n";
        finish_metrics(ctx, std::move(text), {{"catalog", true}}, done);
      },
      [ctx, done, expose](const failure&) {
        finish_metrics(ctx, expose(), {{"catalog", false}}, done);
      },
      list_atom::value);
}

/// Formats one event as an SSE message.
std::string sse_message(const event_record& e) {
  std::string out;
  if (e.id > 0) out += "id: " + std::to_string(e.id) + "\n";
  out += "event: " + e.type + "\n";
  out += "data: " + e.data + "\n\n";
  return out;
}

void events_stream(const ctx_ptr& ctx, request_context&& rc, responder done) {
  uint64_t last_id = 0;
  std::string resume;
  if (auto h = rc.req.find("Last-Event-ID"); h != rc.req.end())
    resume = std::string{h->value()};
  else if (auto q = rc.query("lastEventId"))
    resume = *q;
  if (!resume.empty()) {
    auto id = parse_event_id(resume);
    if (!id)
      return reply_error(done,
                         {errc::invalid_argument,
                          "Last-Event-ID must be an event id (a number)"});
    last_id = *id;
  }
  auto events = ctx->actors->events();
  auto bridge = ctx->actors->bridge();
  if (!events || !bridge)
    return reply_error(done,
                       {errc::unavailable, "the events hub is restarting"});
  // A place among the open streams, held until the client leaves (or, if
  // the stream never opens, given back when the last copy of the close
  // callback goes).
  auto streams = ctx->event_streams;
  if (streams->fetch_add(1) >= static_cast<int64_t>(ctx->max_event_streams)) {
    streams->fetch_sub(1);
    return reply_error(
        done,
        {errc::unavailable, "too many event streams: the node serves at most " +
                                std::to_string(ctx->max_event_streams) +
                                " at once (events_max_streams)"});
  }
  std::shared_ptr<void> place{nullptr,
                              [streams](void*) { streams->fetch_sub(1); }};
  // The subscription id arrives after the stream opened; the client may be
  // gone by then, so both sides meet in one small shared record.
  struct subscription {
    std::mutex mtx;
    uint64_t id = 0;
    bool closed = false;
  };
  auto sub = std::make_shared<subscription>();
  auto head = make_json_response(200, {}, done.version());
  head.set(beast_http::field::content_type, "text/event-stream");
  head.set(beast_http::field::cache_control, "no-cache");
  // Subscribe through the bridge, which receives the subscription id.
  auto subscribe = [events, last_id, sub,
                    bridge](std::shared_ptr<stream_sink> sink) {
    event_sink deliver = [sink](const event_record& e) {
      sink->push(sse_message(e));
    };
    caf::anon_send(bridge, bridge_job{[events, last_id, sub, deliver,
                                       sink](caf::event_based_actor* self) {
                     self->request(events, std::chrono::seconds{5},
                                   subscribe_atom::value, deliver, last_id)
                         .then(
                             [self, events, sub](uint64_t id) {
                               std::lock_guard<std::mutex> guard{sub->mtx};
                               if (sub->closed)
                                 self->send(events, unsub_atom::value, id);
                               else
                                 sub->id = id;
                             },
                             // Never let a failed subscription kill the bridge;
                             // end the stream so the client retries.
                             [sink](caf::error&) { sink->close(); });
                   }});
  };
  done.stream(std::move(head), std::move(subscribe), [events, sub, place] {
    std::lock_guard<std::mutex> guard{sub->mtx};
    sub->closed = true;
    if (sub->id != 0) caf::anon_send(events, unsub_atom::value, sub->id);
  });
}

}  // namespace

std::optional<failure> check_token(const request& req,
                                   const std::string& token) {
  auto h = req.find(beast_http::field::authorization);
  if (h == req.end())
    return failure{errc::unauthorized,
                   "this request needs 'Authorization: Bearer <token>'"};
  std::string_view value{h->value().data(), h->value().size()};
  constexpr std::string_view scheme = "Bearer ";
  if (value.size() < scheme.size() || value.substr(0, scheme.size()) != scheme)
    return failure{errc::unauthorized,
                   "the Authorization header must use the Bearer scheme"};
  auto given = value.substr(scheme.size());
  // Constant time in the length of the token: no early exit on a mismatch.
  unsigned char diff = given.size() == token.size() ? 0 : 1;
  for (size_t i = 0; i < token.size(); ++i) {
    auto g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff |=
        static_cast<unsigned char>(g ^ static_cast<unsigned char>(token[i]));
  }
  if (diff != 0) return failure{errc::forbidden, "the token is not valid"};
  return std::nullopt;
}

void install_api(router& r, std::shared_ptr<const api_context> ctx) {
  auto bind = [&](auto fn) {
    return guarded(ctx, [ctx, fn](request_context&& rc, responder done) {
      fn(ctx, std::move(rc), std::move(done));
    });
  };
  r.add(verb::get, "/health", bind(node_health));
  r.add(verb::get, "/api/services", bind(list_services));
  r.add(verb::post, "/api/services", bind(register_service));
  r.add(verb::get, "/api/services/:name", bind(get_service));
  r.add(verb::get, "/api/services/:name/resolve", bind(resolve));
  r.add(verb::delete_, "/api/services/:name/:id", bind(deregister_service));
  r.add(verb::put, "/api/services/:name/:id/heartbeat", bind(heartbeat));
  r.add(verb::get, "/api/health/aggregated", bind(health_aggregated));
  r.add(verb::get, "/api/health/services", bind(health_services));
  r.add(verb::get, "/api/events", bind(events_stream));
  r.add(verb::get, "/api/mesh", bind(mesh_state));
  r.add(verb::get, "/metrics", bind(metrics_text));
  install_stats_api(r, ctx);
}

}  // namespace valmesh::web
