#include "http/consul_api.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "actors/bridge.hpp"
#include "actors/protocol.hpp"
#include "http/api.hpp"
#include "http/api_util.hpp"
#include "runtime/common/version.hpp"
#include "runtime/consul/consul.hpp"

namespace valmesh::web {

namespace {

using verb = beast_http::verb;
using ctx_ptr = std::shared_ptr<const consul_context>;

// -- answers as Consul gives them ---------------------------------------------

/// A plain-text answer (Consul's errors are text, not JSON).
void reply_text(const responder& done, unsigned status, std::string text) {
  response res{static_cast<beast_http::status>(status), done.version()};
  res.set(beast_http::field::content_type, "text/plain; charset=utf-8");
  res.body() = std::move(text);
  done(std::move(res));
}

/// A failure of the node (an actor that did not answer...) as Consul words
/// it: its status, the message as text.
void reply_failure(const responder& done, const failure& f) {
  auto status = status_of(f.code);
  reply_text(done, status, f.message);
}

/// A JSON answer with the headers of a Consul read.
void reply_read(const responder& done, const json& j, uint64_t index) {
  auto res = make_json_response(200, to_body(j), done.version());
  res.set("X-Consul-Index", std::to_string(std::max<uint64_t>(index, 1)));
  res.set("X-Consul-KnownLeader", "true");
  res.set("X-Consul-LastContact", "0");
  res.set("X-Consul-Effective-Consistency", "leader");
  done(std::move(res));
}

/// Every instance of the catalog.
template <class OnOk>
void read_all(const ctx_ptr& ctx, const responder& done, OnOk on_ok) {
  ask_or<std::vector<service_instance>>(
      ctx, ctx->actors->registry(), std::move(on_ok),
      [done](const failure& f) { reply_failure(done, f); },
      snapshot_atom::value);
}

/// The instances of one service (none for an unknown one, as Consul).
template <class OnOk>
void read_service(const ctx_ptr& ctx, const std::string& name,
                  const responder& done, OnOk on_ok) {
  ask_or<std::vector<service_instance>>(
      ctx, ctx->actors->registry(), on_ok,
      [done, on_ok](const failure& f) {
        if (f.code != errc::not_found) return reply_failure(done, f);
        std::vector<service_instance> none;
        on_ok(none);
      },
      get_atom::value, name);
}

consul::node_info node_of(const ctx_ptr& ctx, const service_instance& x) {
  if (x.node.empty() || x.node == ctx->node_name)
    return {ctx->node_name, ctx->node_address};
  // Another member's registration: its address is not at hand here; the
  // instance's own is the nearest truth.
  return {x.node, x.host};
}

/// The query parameters every Consul read accepts; `dc` must be ours.
bool check_read_params(const request_context& rc, const responder& done) {
  if (auto dc = rc.query("dc");
      dc && !dc->empty() && *dc != consul::datacenter) {
    reply_text(done, 500, "No path to datacenter");
    return false;
  }
  if (auto f = rc.query("filter"); f && !f->empty()) {
    reply_text(done, 400,
               "valmesh does not support the filter parameter; use tag, "
               "passing or node-meta");
    return false;
  }
  return true;
}

/// Every value of a repeatable query parameter.
std::vector<std::string> query_all(const request_context& rc,
                                   std::string_view key) {
  std::vector<std::string> out;
  std::string_view qs = rc.query_string;
  while (!qs.empty()) {
    auto amp = qs.find('&');
    auto pair = qs.substr(0, amp);
    qs =
        amp == std::string_view::npos ? std::string_view{} : qs.substr(amp + 1);
    auto eq = pair.find('=');
    auto k = percent_decode(pair.substr(0, eq), true);
    if (!k || *k != key) continue;
    if (eq == std::string_view::npos) {
      out.emplace_back();
      continue;
    }
    if (auto v = percent_decode(pair.substr(eq + 1), true))
      out.push_back(std::move(*v));
  }
  return out;
}

/// Runs `read(index)` as a blocking query on `key` (`index` and `wait`).
template <class Read>
void blocking(const ctx_ptr& ctx, const request_context& rc,
              const responder& done, const std::string& key, Read read) {
  auto q = consul::parse_blocking_query(rc.query("index"), rc.query("wait"));
  if (!q) return reply_text(done, 400, q.error().message);
  if (!read_when_changed(ctx->long_poll, key, q->index, q->wait,
                         std::move(read)))
    reply_text(done, 503,
               "too many blocking queries: the node holds at most " +
                   std::to_string(ctx->long_poll.max_held) +
                   " at once (max_blocking_queries)");
}

// -- agent --------------------------------------------------------------------

void register_service(const ctx_ptr& ctx, request_context&& rc,
                      responder done) {
  auto body = json::parse(rc.req.body(), nullptr, false);
  if (rc.req.body().empty() || body.is_discarded())
    return reply_text(done, 400, "Request decode failed: the body is not JSON");
  auto r = consul::parse_registration(body, ctx->node_address);
  if (!r) return reply_text(done, 400, r.error().message);
  auto status = r->initial_status;
  ask_or<service_instance>(
      ctx, ctx->actors->registry(),
      [ctx, done, status](service_instance& stored) {
        if (!status) return reply_text(done, 200, "");
        ask_or<service_instance>(
            ctx, ctx->actors->registry(),
            [done](service_instance&) { reply_text(done, 200, ""); },
            [done](const failure& f) { reply_failure(done, f); },
            status_atom::value, stored.name, stored.id, *status);
      },
      [done](const failure& f) { reply_failure(done, f); },
      register_atom::value, std::move(r->instance));
}

void deregister_service(const ctx_ptr& ctx, request_context&& rc,
                        responder done) {
  std::string id{rc.param("id")};
  read_all(ctx, done, [ctx, done, id](std::vector<service_instance>& all) {
    // The agent's own registration first, as Consul's agent knows only its
    // own services.
    const service_instance* found = nullptr;
    for (auto& x : all)
      if (x.id == id && (!found || x.node == ctx->node_name)) found = &x;
    if (!found)
      return reply_text(done, 404,
                        "Unknown service ID \"" + id +
                            "\". Ensure that the service ID is passed, not "
                            "the service name.");
    ask_or<service_instance>(
        ctx, ctx->actors->registry(),
        [done](service_instance&) { reply_text(done, 200, ""); },
        [done](const failure& f) { reply_failure(done, f); },
        deregister_atom::value, found->name, found->id);
  });
}

/// `pass`, `warn`, `fail` and `update` of a TTL check.
void update_check(const ctx_ptr& ctx, std::string check_id,
                  health_status status, std::string output, responder done) {
  read_all(ctx, done,
           [ctx, done, check_id, status,
            output](std::vector<service_instance>& all) {
             auto c = consul::find_check(all, check_id);
             if (!c)
               return reply_text(done, 404,
                                 "Unknown check ID \"" + check_id +
                                     "\". Ensure that the check ID is passed, "
                                     "not the check name.");
             if (!c->ttl)
               return reply_text(
                   done, 500,
                   "CheckID \"" + check_id + "\" does not have associated TTL");
             ask_or<service_instance>(
                 ctx, ctx->actors->registry(),
                 [done](service_instance&) { reply_text(done, 200, ""); },
                 [done](const failure& f) { reply_failure(done, f); },
                 heartbeat_atom::value, c->service, c->id, status, output);
           });
}

void check_pass_warn_fail(const ctx_ptr& ctx, health_status status,
                          request_context&& rc, responder done) {
  update_check(ctx, std::string{rc.param("check_id")}, status,
               rc.query("note").value_or(""), std::move(done));
}

void check_update(const ctx_ptr& ctx, request_context&& rc, responder done) {
  auto body = json::parse(rc.req.body(), nullptr, false);
  if (body.is_discarded() || !body.is_object())
    return reply_text(done, 400, "Request decode failed: the body is not JSON");
  std::string status, output;
  for (auto& [k, v] : body.items()) {
    auto key = consul::fold_key(k);
    if ((key != "status" && key != "output") || !v.is_string())
      return reply_text(done, 400,
                        "Request decode failed: expected {\"Status\", "
                        "\"Output\"} strings");
    (key == "status" ? status : output) = v.get<std::string>();
  }
  auto s = parse_health_status(status);
  if (!s || *s == health_status::unknown)
    return reply_text(done, 400, "Invalid check status: \"" + status + "\"");
  update_check(ctx, std::string{rc.param("check_id")}, *s, std::move(output),
               std::move(done));
}

void agent_services(const ctx_ptr& ctx, request_context&& rc, responder done) {
  if (!check_read_params(rc, done)) return;
  read_all(ctx, done, [ctx, done](std::vector<service_instance>& all) {
    json j = json::object();
    for (auto& x : all)
      if (x.node.empty() || x.node == ctx->node_name)
        j[x.id] = consul::agent_service_json(x);
    reply_read(done, j,
               ctx->long_poll.watches ? ctx->long_poll.watches->last() : 1);
  });
}

void agent_self(const ctx_ptr& ctx, request_context&&, responder done) {
  json member = {{"Name", ctx->node_name},
                 {"Addr", ctx->node_address},
                 {"Port", 8301},
                 {"Tags",
                  {{"dc", consul::datacenter},
                   {"role", "consul"},
                   {"id", consul::node_id(ctx->node_name)},
                   {"build", version}}},
                 {"Status", 1}};
  json j = {{"Config",
             {{"Datacenter", consul::datacenter},
              {"PrimaryDatacenter", consul::datacenter},
              {"NodeName", ctx->node_name},
              {"NodeID", consul::node_id(ctx->node_name)},
              {"Revision", "valmesh"},
              {"Server", true},
              {"Version", version}}},
            {"DebugConfig", json::object()},
            {"Coord", nullptr},
            {"Member", std::move(member)},
            {"Stats", json::object()},
            {"Meta", json::object()},
            {"xDS", nullptr}};
  reply_json(done, 200, j);
}

// -- status -------------------------------------------------------------------

void status_leader(const ctx_ptr& ctx, request_context&&, responder done) {
  reply_json(done, 200, json(ctx->cluster_addr));
}

/// The alive members of the cluster (this node at least).
template <class OnMembers>
void read_members(const ctx_ptr& ctx, const responder& done, OnMembers on) {
  auto self = member{};
  self.name = ctx->node_name;
  self.cluster_addr = ctx->cluster_addr;
  self.http_addr = ctx->node_address;
  auto cluster = ctx->actors->cluster();
  if (!cluster) {
    std::vector<member> xs{self};
    return on(xs);
  }
  ask_or<std::vector<member>>(
      ctx, cluster,
      [on, self](std::vector<member>& xs) {
        std::vector<member> alive;
        bool has_self = false;
        for (auto& m : xs) {
          if (m.status != member_status::alive) continue;
          has_self = has_self || m.name == self.name;
          alive.push_back(m);
        }
        if (!has_self) alive.insert(alive.begin(), self);
        on(alive);
      },
      [done](const failure& f) { reply_failure(done, f); },
      members_atom::value);
}

void status_peers(const ctx_ptr& ctx, request_context&&, responder done) {
  read_members(ctx, done, [done](std::vector<member>& xs) {
    auto arr = json::array();
    for (auto& m : xs) arr.push_back(m.cluster_addr);
    reply_json(done, 200, arr);
  });
}

// -- catalog and health -------------------------------------------------------

void catalog_services(const ctx_ptr& ctx, request_context&& rc,
                      responder done) {
  if (!check_read_params(rc, done)) return;
  blocking(ctx, rc, done, watch_keys::catalog, [ctx, done](uint64_t index) {
    read_all(ctx, done, [done, index](std::vector<service_instance>& all) {
      reply_read(done, consul::catalog_services_json(all), index);
    });
  });
}

void catalog_service(const ctx_ptr& ctx, request_context&& rc, responder done) {
  if (!check_read_params(rc, done)) return;
  std::string name{rc.param("name")};
  consul::health_filter f;
  f.tags = query_all(rc, "tag");
  blocking(ctx, rc, done, watch_keys::service(name),
           [ctx, done, name, f](uint64_t index) {
             read_service(
                 ctx, name, done,
                 [ctx, done, f, index](std::vector<service_instance>& xs) {
                   auto arr = json::array();
                   for (auto& x : xs)
                     if (consul::admits(f, x))
                       arr.push_back(
                           consul::catalog_service_json(x, node_of(ctx, x)));
                   reply_read(done, arr, index);
                 });
           });
}

void catalog_nodes(const ctx_ptr& ctx, request_context&& rc, responder done) {
  if (!check_read_params(rc, done)) return;
  read_members(ctx, done, [ctx, done](std::vector<member>& xs) {
    auto arr = json::array();
    for (auto& m : xs) {
      auto host = m.http_addr.substr(0, m.http_addr.rfind(':'));
      if (m.name == ctx->node_name) host = ctx->node_address;
      arr.push_back(consul::node_json({m.name, host}));
    }
    reply_read(done, arr,
               ctx->long_poll.watches ? ctx->long_poll.watches->last() : 1);
  });
}

void health_service(const ctx_ptr& ctx, request_context&& rc, responder done) {
  if (!check_read_params(rc, done)) return;
  std::string name{rc.param("name")};
  consul::health_filter f;
  if (auto p = rc.query("passing")) f.passing = *p != "false" && *p != "0";
  f.tags = query_all(rc, "tag");
  for (auto& nm : query_all(rc, "node-meta")) {
    auto colon = nm.find(':');
    if (colon == std::string::npos)
      return reply_text(
          done, 400,
          "Invalid node-meta: expected key:value, got \"" + nm + "\"");
    f.node_meta.emplace_back(nm.substr(0, colon), nm.substr(colon + 1));
  }
  blocking(
      ctx, rc, done, watch_keys::service(name),
      [ctx, done, name, f](uint64_t index) {
        read_service(
            ctx, name, done,
            [ctx, done, f, index](std::vector<service_instance>& xs) {
              auto arr = json::array();
              for (auto& x : xs)
                if (consul::admits(f, x))
                  arr.push_back(consul::health_entry_json(x, node_of(ctx, x)));
              reply_read(done, arr, index);
            });
      });
}

void not_found(request_context&&, responder done) {
  reply_text(done, 404, "404 page not found\n");
}

}  // namespace

bool has_consul_token(const request_context& rc, const std::string& token) {
  std::string given;
  if (auto h = rc.req.find("X-Consul-Token"); h != rc.req.end())
    given = std::string{h->value()};
  else if (auto q = rc.query("token"))
    given = *q;
  else if (auto a = rc.req.find(beast_http::field::authorization);
           a != rc.req.end()) {
    std::string_view v{a->value().data(), a->value().size()};
    constexpr std::string_view scheme = "Bearer ";
    if (v.substr(0, scheme.size()) == scheme) given = v.substr(scheme.size());
  }
  // Constant time in the length of the token.
  unsigned char diff = given.size() == token.size() ? 0 : 1;
  for (size_t i = 0; i < token.size(); ++i) {
    auto g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    diff |=
        static_cast<unsigned char>(g ^ static_cast<unsigned char>(token[i]));
  }
  return diff == 0;
}

void install_consul_api(router& r, std::shared_ptr<const consul_context> ctx) {
  // Consul answers a wrong method with 405 and text, so every route takes
  // any method and checks it here; writes need the token when one is set.
  auto bind = [&](verb method, auto fn) {
    return [ctx, method, fn](request_context&& rc, responder done) {
      auto m = rc.req.method();
      if (m != method && !(method == verb::get && m == verb::head))
        return reply_text(
            done, 405,
            "method " + std::string{rc.req.method_string()} + " not allowed");
      if (method != verb::get && !ctx->token.empty() &&
          !has_consul_token(rc, ctx->token))
        return reply_text(done, 403,
                          "Permission denied: this node needs a token for "
                          "writes (X-Consul-Token)");
      fn(ctx, std::move(rc), std::move(done));
    };
  };
  auto check = [](health_status s) {
    return [s](const ctx_ptr& ctx, request_context&& rc, responder done) {
      check_pass_warn_fail(ctx, s, std::move(rc), std::move(done));
    };
  };
  r.any("/v1/agent/service/register", bind(verb::put, register_service));
  r.any("/v1/agent/service/deregister/:id",
        bind(verb::put, deregister_service));
  r.any("/v1/agent/check/pass/:check_id",
        bind(verb::put, check(health_status::passing)));
  r.any("/v1/agent/check/warn/:check_id",
        bind(verb::put, check(health_status::warning)));
  r.any("/v1/agent/check/fail/:check_id",
        bind(verb::put, check(health_status::critical)));
  r.any("/v1/agent/check/update/:check_id", bind(verb::put, check_update));
  r.any("/v1/agent/services", bind(verb::get, agent_services));
  r.any("/v1/agent/self", bind(verb::get, agent_self));
  r.any("/v1/status/leader", bind(verb::get, status_leader));
  r.any("/v1/status/peers", bind(verb::get, status_peers));
  r.any("/v1/catalog/services", bind(verb::get, catalog_services));
  r.any("/v1/catalog/service/:name", bind(verb::get, catalog_service));
  r.any("/v1/catalog/nodes", bind(verb::get, catalog_nodes));
  r.any("/v1/health/service/:name", bind(verb::get, health_service));
  r.any("/v1/*", not_found);
}

}  // namespace valmesh::web
