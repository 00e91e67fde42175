#include "http/cluster_api.hpp"

#include "actors/cluster.hpp"
#include "runtime/config/config.hpp"

namespace valmesh::web {

namespace {

using verb = beast_http::verb;
using ctx_ptr = std::shared_ptr<const api_context>;

json members_json(const std::string& self, const std::vector<member>& xs) {
  auto arr = json::array();
  for (auto& m : xs) arr.push_back(to_json(m));
  return {{"self", self}, {"members", std::move(arr)}};
}

void get_members(const ctx_ptr& ctx, request_context&&, responder done) {
  ask<std::vector<member>>(
      ctx, ctx->actors->cluster(), "cluster actor", std::move(done),
      [ctx](std::vector<member>& xs, const responder& done) {
        reply_json(done, 200, members_json(ctx->node_name, xs));
      },
      members_atom::value);
}

void join(const ctx_ptr& ctx, request_context&& rc, responder done) {
  auto body = parse_body(rc.req);
  if (!body) return reply_error(done, body.error());
  auto addr = body->find("address");
  if (!body->is_object() || addr == body->end() || !addr->is_string())
    return reply_error(done, {errc::invalid_argument,
                              "the body must be {\"address\": \"HOST:PORT\"}"});
  for (auto& [key, _] : body->items())
    if (key != "address")
      return reply_error(done, {errc::invalid_argument,
                                "unknown key '" + key + "' (only \"address\")"});
  auto ep = parse_endpoint(addr->get<std::string>());
  if (!ep || ep->port == 0)
    return reply_error(done, {errc::invalid_argument,
                              "\"address\" must be HOST:PORT with a port, "
                              "got '" + addr->get<std::string>() + "'"});
  auto cluster = ctx->actors->cluster();
  auto bridge = ctx->actors->bridge();
  if (!cluster || !bridge)
    return reply_error(done,
                       {errc::unavailable, "the cluster actor is restarting"});
  // A join may wait for a connection and the member's answer: give it more
  // than the usual actor timeout.
  caf::anon_send(
      bridge,
      bridge_job{[cluster, ctx, done, target = ep->to_string()](
                     caf::event_based_actor* self) mutable {
        self->request(cluster, std::chrono::seconds{10}, join_atom::value,
                      target)
            .then(
                [ctx, done](std::vector<member>& xs) {
                  reply_json(done, 200, members_json(ctx->node_name, xs));
                },
                [done](caf::error& err) { reply_error(done, to_failure(err)); });
      }});
}

}  // namespace

void install_cluster_api(router& r, std::shared_ptr<const api_context> ctx) {
  r.add(verb::get, "/api/cluster/members",
        [ctx](request_context&& rc, responder done) {
          get_members(ctx, std::move(rc), std::move(done));
        });
  r.add(verb::post, "/api/cluster/join",
        [ctx](request_context&& rc, responder done) {
          if (!ctx->token.empty())
            if (auto f = check_token(rc.req, ctx->token))
              return reply_error(done, *f);
          join(ctx, std::move(rc), std::move(done));
        });
}

}  // namespace valmesh::web
