#include "http/stats_api.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "actors/inspector.hpp"
#include "actors/tracer.hpp"
#include "http/api_util.hpp"
#include "http/mesh.hpp"
#include "runtime/common/duration.hpp"
#include "runtime/common/version.hpp"
#include "runtime/metrics/actor_metrics.hpp"
#include "runtime/metrics/node_metrics.hpp"
#include "runtime/metrics/process_metrics.hpp"

namespace valmesh::web {

namespace {

using ctx_ptr = std::shared_ptr<const api_context>;

/// The mesh's instances by service, as its bulkheads have them now.
struct live_set {
  std::unordered_map<std::string, std::unordered_set<std::string>> services;

  bool operator()(const std::string& service, const std::string* id) const {
    auto i = services.find(service);
    if (i == services.end()) return false;
    return id == nullptr || i->second.count(*id) > 0;
  }
};

/// Gathers the loops' counts, dropping what the mesh (as `views` has it) no
/// longer has; `then` gets both.
template <class Then>
void gather_live(const std::shared_ptr<mesh_caller>& mesh, int64_t window,
                 std::vector<bulkhead_view> views, Then then) {
  auto live = std::make_shared<live_set>();
  for (auto& v : views) {
    auto& ids = live->services[v.service];
    for (auto& m : v.members) ids.insert(m.id);
  }
  mesh->gather(
      window,
      [live](const std::string& s, const std::string* id) {
        return (*live)(s, id);
      },
      [views = std::move(views), then](mesh_figures figures,
                                       uint64_t connections) mutable {
        then(std::move(views), std::move(figures), connections);
      });
}

/// Asks the mesh supervisor for its bulkheads, then gathers the loops'
/// counts (dropping what the mesh no longer has); `then` gets both, or
/// `done` the error when the mesh supervisor does not answer.
template <class Then>
void gather_mesh(const ctx_ptr& ctx, responder done, int64_t window,
                 Then then) {
  auto mesh = ctx->mesh;
  if (!mesh)
    return then(std::vector<bulkhead_view>{}, mesh_figures{}, uint64_t{0},
                done);
  ask<std::vector<bulkhead_view>>(
      ctx, ctx->actors->mesh_supervisor(), "mesh supervisor", std::move(done),
      [mesh, window, then](std::vector<bulkhead_view>& views,
                           const responder& done) {
        gather_live(
            mesh, window, std::move(views),
            [then, done](std::vector<bulkhead_view> views, mesh_figures figures,
                         uint64_t connections) mutable {
              then(std::move(views), std::move(figures), connections, done);
            });
      },
      stats_atom::value);
}

json signals(const window_totals& w, int64_t window) {
  auto ms = [](double s) { return std::round(s * 1e6) / 1e3; };
  json j{{"requests", w.requests},
         {"failures", w.failures},
         {"requestsPerSecond",
          static_cast<double>(w.requests) / static_cast<double>(window)}};
  if (w.requests == 0) {
    j["successRate"] = nullptr;
    j["latencyMs"] = {{"p50", nullptr}, {"p95", nullptr}, {"p99", nullptr}};
  } else {
    j["successRate"] = static_cast<double>(w.requests - w.failures) /
                       static_cast<double>(w.requests);
    j["latencyMs"] = {{"p50", ms(w.latency.quantile(0.5))},
                      {"p95", ms(w.latency.quantile(0.95))},
                      {"p99", ms(w.latency.quantile(0.99))}};
  }
  return j;
}

/// `GET /api/stats?window=1m&service=S`.
void stats(const ctx_ptr& ctx, request_context&& rc, responder done) {
  int64_t window = 60;
  std::string window_text = "1m";
  if (auto w = rc.query("window")) {
    auto d = parse_duration(*w);
    if (!d || d->count() % 1000 != 0 || *d < std::chrono::seconds{1} ||
        *d > std::chrono::seconds{second_ring::capacity})
      return reply_error(done, {errc::invalid_argument,
                                "window must be whole seconds from 1s to "
                                "1m, such as 10s or 1m"});
    window = d->count() / 1000;
    window_text = *w;
  }
  std::optional<std::string> service = rc.query("service");
  if (service && service->empty())
    return reply_error(done,
                       {errc::invalid_argument, "service must not be empty"});
  gather_mesh(
      ctx, std::move(done), window,
      [window, window_text, service](std::vector<bulkhead_view> views,
                                     mesh_figures figures, uint64_t,
                                     const responder& done) {
        // Every service the mesh has, with or without traffic.
        std::set<std::string> names;
        for (auto& v : views) names.insert(v.service);
        for (auto& [name, _] : figures) names.insert(name);
        if (service && names.count(*service) == 0)
          return reply_error(done, {errc::not_found, "service '" + *service +
                                                         "' is not in the "
                                                         "mesh"});
        auto services = json::array();
        for (auto& name : names) {
          if (service && name != *service) continue;
          auto i = figures.find(name);
          auto s = signals(
              i == figures.end() ? window_totals{} : i->second.window, window);
          s["name"] = name;
          if (service) {
            std::set<std::string> ids;
            for (auto& v : views)
              if (v.service == name)
                for (auto& m : v.members) ids.insert(m.id);
            if (i != figures.end())
              for (auto& [id, _] : i->second.instances) ids.insert(id);
            auto instances = json::array();
            for (auto& id : ids) {
              window_totals w;
              if (i != figures.end())
                if (auto j = i->second.instances.find(id);
                    j != i->second.instances.end())
                  w = j->second.window;
              auto x = signals(w, window);
              x["id"] = id;
              instances.push_back(std::move(x));
            }
            s["instances"] = std::move(instances);
          }
          services.push_back(std::move(s));
        }
        reply_json(done, 200,
                   {{"window", window_text},
                    {"windowSeconds", window},
                    {"services", std::move(services)}});
      });
}

/// Appends the tracing series and answers: the tracer actor's figures, or
/// none of them when it does not answer within the actor timeout (a
/// restarting tracer must not fail the scrape).
void finish_with_tracing(const ctx_ptr& ctx, std::string text,
                         scrape_collectors collectors, const responder& done) {
  auto reply = [done](std::string&& text, scrape_collectors& collectors,
                      bool tracing) {
    collectors.emplace_back("tracing", tracing);
    write_scrape_success(text, collectors);
    auto res = make_json_response(200, std::move(text), done.version());
    res.set(beast_http::field::content_type,
            "text/plain; version=0.0.4; charset=utf-8");
    done(std::move(res));
  };
  auto tracer = ctx->actors->tracer();
  auto bridge = ctx->actors->bridge();
  if (!tracer || !bridge) return reply(std::move(text), collectors, false);
  auto started = ctx->tracing ? ctx->tracing->stats() : tracer_stats{};
  auto shared = std::make_shared<std::pair<std::string, scrape_collectors>>(
      std::move(text), std::move(collectors));
  auto timeout = ctx->actor_timeout;
  caf::anon_send(
      bridge, bridge_job{[tracer, timeout, shared, started,
                          reply](caf::event_based_actor* self) {
        self->request(tracer, timeout, stats_atom::value)
            .then(
                [shared, started, reply](tracing_stats& s) {
                  write_tracing_metrics(shared->first, started, s.buffer,
                                        s.exporter);
                  reply(std::move(shared->first), shared->second, true);
                },
                [shared, reply](caf::error&) {
                  reply(std::move(shared->first), shared->second, false);
                });
      }});
}

/// Sums the tree's actors by kind into `into` (alive ones, and the
/// restarts their supervisors counted).
void sum_by_kind(const actor_tree_node& n, actor_figures_by_kind& into) {
  auto& x = into[n.figures.kind.empty() ? "unknown" : n.figures.kind];
  x.restarts += n.restarts;
  if (n.state == "running") {
    ++x.actors;
    x.mailbox_size += n.figures.mailbox_size;
    x.messages_handled += n.figures.messages_handled;
  } else if (n.state == "unresponsive") {
    ++x.unresponsive;
  }
  for (auto& c : n.children) sum_by_kind(c, into);
}

/// Appends the actor series, then the tracing ones: the supervision tree
/// walked as `GET /api/actors` walks it (high-priority asks, each actor
/// answering from its own thread, bounded by the inspect timeout), never
/// blocking a scheduler thread.
void finish_with_actors(const ctx_ptr& ctx, std::string text,
                        scrape_collectors collectors, const responder& done) {
  auto bridge = ctx->actors->bridge();
  auto root = ctx->actors->root();
  if (!bridge || !root)
    return finish_with_tracing(ctx, std::move(text), std::move(collectors),
                               done);
  auto timeout = ctx->inspect_timeout;
  auto shared = std::make_shared<std::pair<std::string, scrape_collectors>>(
      std::move(text), std::move(collectors));
  caf::anon_send(bridge, bridge_job{[ctx, root, timeout, shared,
                                     done](caf::event_based_actor* self) {
                   inspect_tree(
                       self->system(), root, "node_supervisor", timeout,
                       [ctx, shared, done](actor_tree_node tree) {
                         actor_figures_by_kind kinds;
                         sum_by_kind(tree, kinds);
                         write_actor_metrics(shared->first, kinds);
                         finish_with_tracing(ctx, std::move(shared->first),
                                             std::move(shared->second), done);
                       });
                 }});
}

/// Appends the series of the node's process and front end, then the
/// actors' and the tracer's.
void finish_with_node(const ctx_ptr& ctx, std::string text,
                      scrape_collectors collectors, const responder& done) {
  if (ctx->registry_counts) ctx->registry_counts->write(text);
  write_build_info(text, version);
  write_process_metrics(text, read_process_figures());
  auto front = ctx->front_end;
  if (!front)
    return finish_with_actors(ctx, std::move(text), std::move(collectors),
                              done);
  front->gather([ctx, front, text = std::move(text),
                 collectors = std::move(collectors),
                 done](http_figures f) mutable {
    write_http_metrics(text, f, front->routes());
    finish_with_actors(ctx, std::move(text), std::move(collectors), done);
  });
}

}  // namespace

void finish_metrics(const ctx_ptr& ctx, std::string text,
                    scrape_collectors collectors, responder done) {
  auto mesh = ctx->mesh;
  if (!mesh)
    return finish_with_node(ctx, std::move(text), std::move(collectors), done);
  // A mesh supervisor that does not answer (restarting) leaves the mesh's
  // series out of this scrape.
  auto state = std::make_shared<std::pair<std::string, scrape_collectors>>(
      std::move(text), std::move(collectors));
  ask_or<std::vector<bulkhead_view>>(
      ctx, ctx->actors->mesh_supervisor(),
      [ctx, mesh, state, done](std::vector<bulkhead_view>& views) {
        gather_live(
            mesh, 0, std::move(views),
            [ctx, state, done](std::vector<bulkhead_view> views,
                               mesh_figures figures, uint64_t connections) {
              mesh_gauges g;
              for (auto& v : views) {
                mesh_gauges::service s;
                s.name = v.service;
                s.queued = v.queued;
                for (auto& m : v.members)
                  s.instances.push_back(
                      {m.id, std::string{to_string(m.breaker)}, m.in_flight});
                g.services.push_back(std::move(s));
              }
              std::sort(g.services.begin(), g.services.end(),
                        [](auto& a, auto& b) { return a.name < b.name; });
              write_mesh_metrics(state->first, figures, g, connections);
              state->second.emplace_back("mesh", true);
              finish_with_node(ctx, std::move(state->first),
                               std::move(state->second), done);
            });
      },
      [ctx, state, done](const failure&) {
        state->second.emplace_back("mesh", false);
        finish_with_node(ctx, std::move(state->first), std::move(state->second),
                         done);
      },
      stats_atom::value);
}

void install_stats_api(router& r, std::shared_ptr<const api_context> ctx) {
  r.add(beast_http::verb::get, "/api/stats",
        [ctx](request_context&& rc, responder done) {
          stats(ctx, std::move(rc), std::move(done));
        });
}

}  // namespace valmesh::web
