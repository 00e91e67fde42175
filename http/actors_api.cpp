#include "http/actors_api.hpp"

#include <charconv>

#include "actors/bridge.hpp"
#include "actors/cluster.hpp"
#include "actors/protocol.hpp"
#include "http/api.hpp"
#include "http/api_util.hpp"
#include "runtime/common/duration.hpp"
#include "runtime/registry/service_instance.hpp"

namespace valmesh::web {

namespace {

using verb = beast_http::verb;
using ctx_ptr = std::shared_ptr<const api_context>;

constexpr const char* root_name = "node_supervisor";

/// Walks the tree from the bridge (which lends its actor system) and calls
/// `on_tree` with it; answers 503 itself when the node is not running.
void with_tree(const ctx_ptr& ctx, const responder& done,
               std::function<void(actor_tree_node)> on_tree) {
  auto bridge = ctx->actors->bridge();
  auto root = ctx->actors->root();
  if (!bridge || !root)
    return reply_error(
        done, {errc::unavailable, "the supervision tree is restarting"});
  auto timeout = ctx->inspect_timeout;
  caf::anon_send(bridge,
                 bridge_job{[root, timeout, on_tree = std::move(on_tree)](
                                caf::event_based_actor* self) mutable {
                   inspect_tree(self->system(), root, root_name, timeout,
                                std::move(on_tree));
                 }});
}

void get_actors(const ctx_ptr& ctx, request_context&& rc, responder done) {
  if (auto node = rc.query("node"); node && *node != ctx->node_name) {
    // Another member's tree, asked over the cluster link (not over HTTP).
    if (node->empty())
      return reply_error(done, {errc::invalid_argument, "node= needs a name"});
    // A member that does not answer within a second is unavailable, even
    // when the connection to it is still being set up.
    auto quick = std::make_shared<api_context>(*ctx);
    quick->actor_timeout = std::chrono::seconds{1};
    auto cluster = ctx->actors->cluster();
    return ask<std::string>(
        std::shared_ptr<const api_context>{quick}, cluster, "cluster actor",
        std::move(done),
        [](std::string& body, const responder& done) {
          auto j = json::parse(body, nullptr, false);
          if (j.is_discarded())
            return reply_error(done, {errc::bad_gateway,
                                      "the member answered malformed JSON"});
          reply_json(done, 200, j);
        },
        tree_atom::value, std::string{*node});
  }
  with_tree(ctx, done, [done](actor_tree_node tree) {
    reply_json(done, 200, {{"root", to_json(tree)}});
  });
}

/// `POST /api/debug/actors/<name>/<action>`: the name may hold slashes
/// (`bulkhead/orders`), raw or encoded as %2F.
void debug_actor(const ctx_ptr& ctx, request_context&& rc, responder done) {
  if (!ctx->fault_injection)
    return reply_error(done, {errc::not_found,
                              "fault injection is off (start the agent with "
                              "--enable-fault-injection)"});
  if (!ctx->token.empty())
    if (auto f = check_token(rc.req, ctx->token)) return reply_error(done, *f);
  auto rest = std::string_view{rc.rest};
  auto slash = rest.rfind('/');
  if (rest.size() < 2 || slash == 0 || slash == std::string_view::npos)
    return reply_error(done, {errc::not_found,
                              "use /api/debug/actors/<name>/crash or "
                              "/api/debug/actors/<name>/stall?ms=N"});
  auto action = std::string{rest.substr(slash + 1)};
  auto name = percent_decode(rest.substr(1, slash - 1));
  if (!name || name->empty())
    return reply_error(done,
                       {errc::invalid_argument, "the actor name is malformed"});
  uint32_t stall_ms = 0;
  if (action == "stall") {
    auto ms = rc.query("ms");
    auto text = ms.value_or("");
    auto [p, ec] =
        std::from_chars(text.data(), text.data() + text.size(), stall_ms);
    if (!ms || ec != std::errc{} || p != text.data() + text.size() ||
        stall_ms == 0 || stall_ms > 10'000)
      return reply_error(done, {errc::invalid_argument,
                                "stall needs ms=N with N in 1..10000"});
  } else if (action != "crash") {
    return reply_error(done, {errc::not_found, "unknown action '" + action +
                                                   "' (crash or stall)"});
  }
  with_tree(
      ctx, done, [done, name = *name, action, stall_ms](actor_tree_node tree) {
        auto* x = find_actor(tree, name);
        if (x == nullptr)
          return reply_error(
              done, {errc::not_found, "no actor named '" + name + "'"});
        if (x->name == root_name && action == "crash")
          return reply_error(done, {errc::conflict,
                                    "node_supervisor is the root: crashing it "
                                    "would stop the node"});
        if (!x->handle)
          return reply_error(
              done, {errc::conflict,
                     "'" + name + "' is " + x->state + ", not running"});
        if (action == "crash") {
          // An exit message with a reason of our own: the actor ends
          // abnormally, as on a failure (anon_send_exit takes only CAF's
          // exit reasons).
          auto& h = x->handle;
          h->enqueue(nullptr, caf::make_message_id(),
                     caf::make_message(caf::exit_msg{
                         h->address(),
                         make_error(errc::internal,
                                    "fault injected through the debug API")}),
                     nullptr);
        } else
          caf::anon_send<caf::message_priority::high>(
              x->handle, stall_atom::value, stall_ms);
        json j = {{"name", x->name},
                  {"kind", x->figures.kind},
                  {"id", x->figures.id},
                  {"action", action}};
        if (action == "stall") j["ms"] = stall_ms;
        reply_json(done, 202, j);
      });
}

}  // namespace

json to_json(const actor_tree_node& x) {
  auto& f = x.figures;
  json j = {{"name", x.name},
            {"kind", f.kind},
            {"id", f.id},
            {"state", x.state},
            {"restarts", x.restarts},
            {"lastFailure", nullptr},
            {"mailboxSize", f.mailbox_size},
            {"messagesHandled", f.messages_handled},
            {"uptimeMs", f.uptime_ms}};
  if (x.last_failure)
    j["lastFailure"] = {{"reason", x.last_failure->reason},
                        {"at", format_unix_ms(x.last_failure->at_ms)}};
  if (f.supervisor) {
    j["strategy"] = f.strategy;
    j["intensity"] = f.intensity;
    j["period"] = format_duration(std::chrono::milliseconds{f.period_ms});
  }
  auto children = json::array();
  for (auto& c : x.children) children.push_back(to_json(c));
  j["children"] = std::move(children);
  return j;
}

void install_actors_api(router& r, std::shared_ptr<const api_context> ctx) {
  r.add(verb::get, "/api/actors", [ctx](request_context&& rc, responder done) {
    get_actors(ctx, std::move(rc), std::move(done));
  });
  r.add(verb::post, "/api/debug/actors/*",
        [ctx](request_context&& rc, responder done) {
          debug_actor(ctx, std::move(rc), std::move(done));
        });
}

}  // namespace valmesh::web
