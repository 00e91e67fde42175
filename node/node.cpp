#include "node/node.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/bridge.hpp"
#include "actors/cluster.hpp"
#include "actors/cluster_gateway.hpp"
#include "actors/directory.hpp"
#include "actors/events.hpp"
#include "actors/health.hpp"
#include "actors/inspector.hpp"
#include "actors/message_guard.hpp"
#include "actors/node_supervisor.hpp"
#include "actors/ownership.hpp"
#include "actors/protocol.hpp"
#include "actors/registry.hpp"
#include "actors/store.hpp"
#include "actors/tracer.hpp"
#include "http/actors_api.hpp"
#include "http/api.hpp"
#include "http/cluster_api.hpp"
#include "http/consul_api.hpp"
#include "http/loops.hpp"
#include "http/mesh.hpp"
#include "http/mesh_api.hpp"
#include "http/prober.hpp"
#include "http/reachability.hpp"
#include "http/router.hpp"
#include "http/server.hpp"
#include "http/span_batcher.hpp"
#include "http/tracing_api.hpp"
#include "http/upstream.hpp"
#include "runtime/common/clock.hpp"
#include "runtime/common/version.hpp"
#include "runtime/store/durable_store.hpp"

namespace valmesh {

namespace {

/// Caps every TLS context of this process at TLS 1.2, by loading an
/// OpenSSL config (from memory, through a memfd) before CAF makes its
/// contexts. CAF 0.17's openssl module loses its connections under TLS 1.3
/// (its session code does not expect 1.3's post-handshake messages): nodes
/// connect, then drop the link within milliseconds, again and again.
void cap_tls_at_1_2() {
  static constexpr char conf[] =
      "openssl_conf = valmesh_conf\n"
      "[valmesh_conf]\nssl_conf = valmesh_ssl\n"
      "[valmesh_ssl]\nsystem_default = valmesh_tls\n"
      "[valmesh_tls]\nMaxProtocol = TLSv1.2\n";
  int fd = ::memfd_create("valmesh-openssl.cnf", MFD_CLOEXEC);
  if (fd < 0 || ::write(fd, conf, sizeof(conf) - 1) !=
                    static_cast<ssize_t>(sizeof(conf) - 1)) {
    spdlog::warn("cluster: cannot cap TLS at 1.2 (memfd: {})",
                 std::strerror(errno));
    if (fd >= 0) ::close(fd);
    return;
  }
  auto path = "/proc/self/fd/" + std::to_string(fd);
  auto* settings = OPENSSL_INIT_new();
  OPENSSL_INIT_set_config_filename(settings, path.c_str());
  if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, settings) != 1)
    spdlog::warn("cluster: cannot cap TLS at 1.2 (OpenSSL config)");
  OPENSSL_INIT_free(settings);
  ::close(fd);
}

/// The actor system's settings for a node on a small machine: few workers
/// (the asio threads need cores too), no automatic connections.
struct node_actor_config : caf::actor_system_config {
  explicit node_actor_config(const node_config& cfg) {
    load<caf::io::middleman>();
    valmesh::add_message_types(*this);
    set("scheduler.max-threads", static_cast<size_t>(cfg.actor_threads));
    // Work sharing blocks idle workers on a condition variable; CAF 0.17's
    // work stealing polls with 50 µs sleeps, which costs a core's worth of
    // wake-ups under a steady trickle of messages (docs/BENCHMARKS.md).
    set("scheduler.policy", cfg.actor_scheduler == "stealing"
                                ? caf::atom("stealing")
                                : caf::atom("sharing"));
    set("middleman.enable-automatic-connections", false);
    // TLS between nodes: CAF's openssl module, peers verified against the
    // CA (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT).
    if (!cfg.cluster_tls_cert.empty()) {
      cap_tls_at_1_2();
      load<caf::openssl::manager>();
      openssl_certificate = cfg.cluster_tls_cert;
      openssl_key = cfg.cluster_tls_key;
      openssl_cafile = cfg.cluster_tls_ca;
    }
    // Only valmesh nodes of the same cluster protocol complete a handshake.
    set("middleman.app-identifiers",
        std::vector<std::string>{cluster_protocol});
  }
};

/// Whether `host` is a loopback address (or "localhost").
bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

/// The SSE event of a catalog change: its type and JSON data.
std::pair<std::string, std::string> describe(const catalog_change& c) {
  using json = nlohmann::json;
  auto& x = c.instance;
  json data = {{"service", x.name}, {"id", x.id}};
  std::string type;
  switch (c.what) {
    case catalog_change::kind::registered:
    case catalog_change::kind::updated:
      type = "registered";
      data["instance"] = to_json(x);
      data["update"] = c.what == catalog_change::kind::updated;
      break;
    case catalog_change::kind::deregistered:
      type = "deregistered";
      data["reason"] = c.reason;
      break;
    case catalog_change::kind::status_changed:
      type = "health_changed";
      data["from"] = to_string(c.previous);
      data["to"] = to_string(x.status);
      data["output"] = x.last_check_output;
      break;
    case catalog_change::kind::renewed:
      type = "renewed";  // not published (see on_change)
      break;
  }
  if (!x.revision.origin.empty()) data["origin"] = x.revision.origin;
  return {std::move(type),
          data.dump(-1, ' ', false, json::error_handler_t::replace)};
}

}  // namespace

struct node::impl {
  explicit impl(node_config c)
      : cfg(std::move(c)),
        loops(make_loops(cfg.http_threads)),
        actor_cfg(cfg),
        sys(actor_cfg) {}

  ~impl() { shut_loops_down(); }

  static std::vector<std::unique_ptr<web::event_loop>> make_loops(uint32_t n) {
    std::vector<std::unique_ptr<web::event_loop>> xs;
    for (uint32_t i = 0; i < std::max<uint32_t>(n, 1); ++i)
      xs.push_back(std::make_unique<web::event_loop>(web::loop_concurrency));
    return xs;
  }

  std::vector<boost::asio::io_context*> loop_pointers() const {
    std::vector<boost::asio::io_context*> xs;
    for (auto& x : loops) xs.push_back(x.get());
    return xs;
  }

  node_config cfg;
  // Declared before the actor system, so they outlive every actor.
  /// The HTTP front end's event loops: one io_context per thread
  /// (`http_threads`), see http/loops.hpp.
  std::vector<std::unique_ptr<web::event_loop>> loops;
  /// Health checks run on their own I/O thread, so that checking thousands
  /// of instances never delays the API, and the other way round.
  web::event_loop probe_ioc;

  /// Destroys the handlers still pending on every loop while all loops
  /// exist (see web::event_loop): what they hold may live on another loop.
  void shut_loops_down() {
    for (auto& loop : loops) loop->shutdown();
    probe_ioc.shutdown();
  }
  /// Before the actor system too: actors hold a pointer to it until they
  /// are gone.
  directory actors;
  /// The store's data (the data dir, or memory with --dev): opened once, so
  /// every incarnation of the store actor shares it and its lock.
  std::shared_ptr<store_backend> backend;
  node_actor_config actor_cfg;
  caf::actor_system sys;
  std::shared_ptr<const clock> time = std::make_shared<system_clock_source>();
  caf::actor supervisor;
  /// What this node publishes on the cluster port.
  caf::actor gateway;
  /// Which node judges which instance (from the alive members).
  std::shared_ptr<ownership> owners =
      std::make_shared<ownership>(cfg.node_name);
  /// The cluster actor's view of the cluster, kept across its restarts.
  std::shared_ptr<cluster_memory> cluster_mem =
      std::make_shared<cluster_memory>();
  using work_guard =
      boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<work_guard> work;
  std::optional<work_guard> probe_work;
  std::vector<std::thread> threads;
  std::unique_ptr<web::server> http;
  /// `--consul-http`: a second listener on the same loops and routes.
  std::unique_ptr<web::server> consul_http;
  /// The indexes of blocking queries, bumped by the catalog's changes.
  std::shared_ptr<watch_index> watches = std::make_shared<watch_index>();
  std::shared_ptr<web::mesh_caller> mesh;
  /// Tracing: the tracer of the node's spans (and the embedder's), and the
  /// OTLP client on the probe loop (export never runs on an HTTP loop).
  std::shared_ptr<valmesh::tracer> spans;
  std::shared_ptr<web::span_batcher> batcher;  ///< the sink of `spans`
  std::shared_ptr<web::upstream_pool> otlp_pool;
  uint16_t http_port = 0;
  uint16_t cluster_port = 0;
  bool started = false;

  /// Whether nodes talk over TLS (CAF's openssl module).
  bool tls() const noexcept { return !cfg.cluster_tls_cert.empty(); }
  bool stopped = false;
  std::atomic<bool> draining{false};
  std::shared_ptr<metrics> meter = std::make_shared<metrics>();
  std::shared_ptr<registry_counters> registry_counts =
      std::make_shared<registry_counters>();
  std::function<void(std::string)> on_fatal;

  /// The tracer actor's options: buffer, export queue, and the OTLP client
  /// (an upstream pool on the probe loop) when an endpoint is set.
  static tracer_options tracer_options_of(impl& d) {
    tracer_options o;
    o.capacity = d.cfg.tracing.buffer_capacity;
    // The loops copy their spans in, the tracer actor reads.
    o.buffer = std::make_shared<shared_span_buffer>(o.capacity);
    o.exporter = d.cfg.tracing.exporter;
    o.resource.instance_id = d.cfg.node_name;
    o.resource.version = version;
    o.time = d.time;
    auto target = parse_otlp_endpoint(d.cfg.tracing.otlp_endpoint);
    if (!d.cfg.tracing.enabled || d.cfg.tracing.otlp_endpoint.empty() ||
        !target)
      return o;
    if (!d.otlp_pool)
      d.otlp_pool = std::make_shared<web::upstream_pool>(d.probe_ioc);
    auto timeout = d.cfg.tracing.exporter.timeout;
    o.post = [pool = d.otlp_pool, t = *target, timeout](std::string body,
                                                        otlp_done_fn done) {
      web::upstream_request req;
      req.method = boost::beast::http::verb::post;
      req.target = t.path;
      req.headers = {{"Content-Type", "application/json"}};
      req.body = std::move(body);
      req.timeout = timeout;
      pool->send(endpoint{t.host, t.port}, req,
                 [done = std::move(done)](web::upstream_result r) {
                   if (!r.ok) return done(false, true, r.error.message);
                   auto s = r.response.status;
                   if (s >= 200 && s < 300) return done(true, false, {});
                   bool retryable =
                       s == 429 || s == 502 || s == 503 || s == 504;
                   done(false, retryable,
                        "the OTLP receiver answered " + std::to_string(s));
                 });
    };
    return o;
  }

  /// The incarnation this node starts with: one more than the last one it
  /// used (kept in the data dir), so that whatever the cluster remembers of
  /// its previous run is superseded. With `--dev`, the wall clock in ms.
  uint64_t start_incarnation() {
    if (cfg.dev) return static_cast<uint64_t>(time->unix_ms());
    uint64_t last = 0;
    if (std::ifstream in{incarnation_path()}; in) in >> last;
    auto n = std::max(last + 1, static_cast<uint64_t>(1));
    save_incarnation(n);
    return n;
  }

  /// Writes the incarnation to the data dir (write, fsync, rename).
  void save_incarnation(uint64_t n) {
    if (cfg.dev) return;
    auto path = incarnation_path();
    auto tmp = path + ".tmp";
    auto text = std::to_string(n) + "\n";
    int fd =
        ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      spdlog::error("cluster: cannot write {}: {}", tmp, std::strerror(errno));
      return;
    }
    bool ok = ::write(fd, text.data(), text.size()) ==
                  static_cast<ssize_t>(text.size()) &&
              ::fsync(fd) == 0;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0)
      spdlog::error("cluster: cannot save the incarnation in {}", path);
  }

  std::string incarnation_path() const {
    return (std::filesystem::path{cfg.data_dir} / "incarnation").string();
  }

  /// Announces `left` to the cluster and waits, at most `budget`, until the
  /// members heard it.
  void leave_cluster(std::chrono::milliseconds budget) {
    auto cl = actors.cluster();
    if (!cl) return;
    caf::scoped_actor self{sys};
    self->request(cl, budget, leave_atom::value)
        .receive([](bool) {},
                 [](caf::error& err) {
                   spdlog::warn("cluster: leaving was not confirmed: {}",
                                caf::to_string(err));
                 });
  }

  /// Hands the loops' spans to the tracer and waits, at most `budget`, for
  /// the tracer to export what waits (graceful shutdown).
  void flush_spans(std::chrono::milliseconds budget);

  /// Sends one request from a scoped actor and waits for the answer.
  template <class R, class... Ts>
  expected<R> ask(Ts&&... xs) {
    auto reg = actors.registry();
    if (!reg) return failure{errc::unavailable, "the registry is not running"};
    caf::scoped_actor self{sys};
    std::optional<expected<R>> result;
    self->request(reg, std::chrono::seconds{5}, std::forward<Ts>(xs)...)
        .receive([&](R& x) { result.emplace(std::move(x)); },
                 [&](caf::error& err) { result.emplace(to_failure(err)); });
    return std::move(*result);
  }
};

node::node(node_config cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {}

node::~node() {
  stop();
}

const node_config& node::config() const noexcept {
  return impl_->cfg;
}

uint16_t node::http_port() const noexcept {
  return impl_->http_port;
}

uint16_t node::cluster_port() const noexcept {
  return impl_->cluster_port;
}

std::optional<failure> node::start() {
  auto& d = *impl_;
  if (d.started) return failure{errc::conflict, "the node is already started"};
  d.started = true;
  // The supervision tree. Each start function publishes the new handle in
  // the directory, so HTTP handlers always reach the current incarnation.
  auto* dir = &d.actors;
  if (d.cfg.dev) {
    d.backend = std::make_shared<memory_store>();
  } else {
    auto opened = durable_store::open({d.cfg.data_dir});
    if (!opened) return opened.error();
    d.backend = std::move(*opened);
  }
  registry_options ropts;
  ropts.store = [dir] { return dir->store(); };
  ropts.time = d.time;
  ropts.catalog.node_name = d.cfg.node_name;
  ropts.catalog.judges = [owners = d.owners](const service_instance& x) {
    return owners->judges(x);
  };
  ropts.catalog.deregister_critical_after =
      d.cfg.health.deregister_critical_after;
  // The registry publishes; the events hub and the health actors react. The
  // hook looks up their current handles, so their restarts lose nothing.
  // The hook runs once per message the registry handled: a replicated
  // batch of hundreds of changes goes to each of them as one message.
  ropts.on_change = [dir, meter = d.meter, time = d.time, watches = d.watches,
                     counts = d.registry_counts](
                        std::vector<catalog_change> changes) {
    std::vector<catalog_entry> own;  // this node's writes, for every member
    std::vector<std::pair<std::string, std::string>> events;
    std::vector<std::string> keys;
    bool catalog_moved = false;
    // One clock read for the batch: its changes were applied together.
    auto now_us = time->unix_us();
    for (auto& c : changes) {
      if (c.replicated) {
        auto written = hybrid_clock::physical_us(c.instance.revision.stamp);
        meter->replication_lag(
            static_cast<double>(std::max<int64_t>(0, now_us - written)) / 1e6);
      } else {
        counts->count(c);
        own.push_back(c.what == catalog_change::kind::deregistered
                          ? deletion_of(c.instance)
                          : catalog_entry{c.instance, false});
      }
      if (c.what == catalog_change::kind::renewed) continue;
      // Blocking queries on these services (and on the lists) answer now.
      auto key = web::watch_keys::service(c.instance.name);
      if (std::find(keys.begin(), keys.end(), key) == keys.end())
        keys.push_back(std::move(key));
      catalog_moved |= c.what != catalog_change::kind::status_changed;
      events.push_back(describe(c));
    }
    if (!own.empty())
      if (auto cl = dir->cluster())
        caf::anon_send(cl, push_atom::value, std::move(own));
    // Renewals (heartbeats that changed nothing) go no further.
    changes.erase(std::remove_if(changes.begin(), changes.end(),
                                 [](const catalog_change& c) {
                                   return c.what ==
                                          catalog_change::kind::renewed;
                                 }),
                  changes.end());
    if (changes.empty()) return;
    keys.push_back(web::watch_keys::all);
    if (catalog_moved) keys.push_back(web::watch_keys::catalog);
    watches->bump(keys);
    if (auto ev = dir->events())
      caf::anon_send(ev, publish_atom::value, std::move(events));
    if (auto hs = dir->health_supervisor())
      caf::anon_send(hs, changed_atom::value, changes);
    if (auto ag = dir->health_aggregator())
      caf::anon_send(ag, changed_atom::value, changes);
    if (auto ms = dir->mesh_supervisor())
      caf::anon_send(ms, changed_atom::value, std::move(changes));
  };
  health_options hopts_actors;
  hopts_actors.health = d.cfg.health;
  hopts_actors.time = d.time;
  hopts_actors.probe =
      make_http_prober(d.probe_ioc, "valmesh-health-check/" + d.cfg.node_name);
  hopts_actors.registry = [dir] { return dir->registry(); };
  hopts_actors.on_passed = [dir](const std::string& service,
                                 std::vector<std::string> ids) {
    if (auto ms = dir->mesh_supervisor())
      caf::anon_send(ms, checked_atom::value, service, std::move(ids));
  };
  hopts_actors.events = [dir] { return dir->events(); };
  hopts_actors.meter = d.meter;
  hopts_actors.judges = [owners = d.owners](const service_instance& x) {
    return owners->judges(x);
  };
  hopts_actors.on_aggregator = [dir](const health_aggregator_actor& h) {
    dir->set(h);
  };
  std::vector<child_spec> children;
  children.push_back({"store", "store",
                      [dir, backend = d.backend, detached = !d.cfg.dev,
                       meter = d.meter](caf::actor_system& sys) {
                        store_options o;
                        o.backend = backend;
                        o.detached = detached;
                        o.meter = meter;
                        auto h = spawn_store(sys, std::move(o));
                        dir->set(h);
                        return caf::actor_cast<caf::actor>(h);
                      },
                      restart_type::permanent});
  children.push_back({"registry", "registry",
                      [dir, ropts](caf::actor_system& sys) {
                        auto h = spawn_registry(sys, ropts);
                        dir->set(h);
                        return caf::actor_cast<caf::actor>(h);
                      },
                      restart_type::permanent});
  children.push_back({"events", "events",
                      [dir](caf::actor_system& sys) {
                        auto h = spawn_events(sys, 1024);
                        dir->set(h);
                        return caf::actor_cast<caf::actor>(h);
                      },
                      restart_type::permanent});
  children.push_back({"bridge", "bridge",
                      [dir](caf::actor_system& sys) {
                        auto h = spawn_bridge(sys);
                        dir->set(h);
                        return h;
                      },
                      restart_type::permanent});
  children.push_back({"health_supervisor", "supervisor",
                      [dir, hopts_actors](caf::actor_system& sys) {
                        auto h = spawn_health_supervisor(sys, hopts_actors);
                        dir->set(h);
                        return caf::actor_cast<caf::actor>(h);
                      },
                      restart_type::permanent});
  mesh_options mopts;
  mopts.policies = d.cfg.policies;
  mopts.time = d.time;
  mopts.bulkheads = &dir->bulkheads();
  mopts.registry = [dir] { return dir->registry(); };
  mopts.events = [dir] { return dir->events(); };
  mopts.meter = d.meter;
  children.push_back({"mesh_supervisor", "supervisor",
                      [dir, mopts](caf::actor_system& sys) {
                        auto h = spawn_mesh_supervisor(sys, mopts);
                        dir->set(h);
                        return caf::actor_cast<caf::actor>(h);
                      },
                      restart_type::permanent});
  // Field by field, so that the spec keeps compiling as child_spec grows.
  auto topts = impl::tracer_options_of(d);
  child_spec tracer_spec;
  tracer_spec.id = "tracer";
  tracer_spec.kind = "tracer";
  tracer_spec.start = [dir, topts](caf::actor_system& sys) {
    auto h = spawn_tracer(sys, topts);
    dir->set(h);
    return caf::actor_cast<caf::actor>(h);
  };
  tracer_spec.restart = restart_type::permanent;
  children.push_back(std::move(tracer_spec));
  // The HTTP front-end.
  auto api = std::make_shared<web::api_context>();
  api->actors = &d.actors;
  api->token = d.cfg.token;
  api->node_name = d.cfg.node_name;
  api->fault_injection = d.cfg.enable_fault_injection;
  api->draining = &d.draining;
  api->meter = d.meter;
  api->registry_counts = d.registry_counts;
  api->owners = d.owners;
  api->long_poll.loops = d.loop_pointers();
  api->long_poll.watches = d.watches;
  api->long_poll.max_held = d.cfg.max_blocking_queries;
  api->max_event_streams = d.cfg.events_max_streams;
  auto rt = std::make_shared<web::router>();
  web::server_options hopts;
  hopts.stats = std::make_shared<web::front_end_stats>(d.loop_pointers());
  api->front_end = hopts.stats;
  hopts.body_limit = d.cfg.http_body_limit;
  hopts.read_timeout = d.cfg.http_read_timeout;
  hopts.stream_keepalive = d.cfg.events_keepalive;
  hopts.stream_queue_limit = d.cfg.events_queue_limit;
  hopts.max_connections = d.cfg.max_connections > 0
                              ? d.cfg.max_connections
                              : web::default_max_connections();
  d.http = std::make_unique<web::server>(
      d.loop_pointers(), hopts, [rt](web::request&& req, web::responder done) {
        rt->dispatch(std::move(req), std::move(done));
      });
  auto port = d.http->listen(d.cfg.http);
  if (!port) return port.error();
  d.http_port = *port;
  spdlog::info("http: max_connections={}", hopts.max_connections);
  // The Consul-compatible listener (its routes are installed below, before
  // the loops run).
  if (d.cfg.consul_http) {
    d.consul_http = std::make_unique<web::server>(
        d.loop_pointers(), hopts,
        [rt](web::request&& req, web::responder done) {
          rt->dispatch(std::move(req), std::move(done));
        });
    auto cport = d.consul_http->listen(*d.cfg.consul_http);
    if (!cport) return cport.error();
    spdlog::info("consul-compatible API: consul-http={}",
                 endpoint{d.cfg.consul_http->host, *cport}.to_string());
  }
  if (!message_guard_active())
    spdlog::warn(
        "cluster: the guard around CAF's message deserializer is not in "
        "force: a malformed message from a peer could stop this node");
  // The cluster port: CAF's middleman, publishing this node's gateway, the
  // one handle other nodes hold (actors/cluster_gateway.hpp). It opens after
  // every HTTP listener is bound, so a node that cannot start never opens
  // and at once closes it: CAF 0.17's `publish` returns before the
  // middleman's broker has taken the new acceptor; an `unpublish` handled
  // in the same turn of the broker cancels its registration with the event
  // loop before it is made, and the acceptor, which holds a reference to
  // itself until the loop lets it go, is then never freed.
  d.gateway = spawn_cluster_gateway(d.sys, {[dir] { return dir->cluster(); },
                                            [dir] { return dir->registry(); },
                                            d.meter, d.cfg.cluster_secret});
  auto published =
      d.tls() ? caf::openssl::publish(d.gateway, d.cfg.cluster.port,
                                      d.cfg.cluster.host.c_str(), true)
              : d.sys.middleman().publish(d.gateway, d.cfg.cluster.port,
                                          d.cfg.cluster.host.c_str(), true);
  if (!published)
    return failure{errc::unavailable, "cannot listen on cluster address " +
                                          d.cfg.cluster.to_string() + ": " +
                                          d.sys.render(published.error())};
  d.cluster_port = *published;
  if (d.cfg.cluster_secret.empty() && !is_loopback(d.cfg.cluster.host))
    spdlog::warn(
        "cluster: the cluster port {} listens beyond loopback and no "
        "--cluster-secret is set: any host that reaches it can join this "
        "cluster and write to its catalog",
        endpoint{d.cfg.cluster.host, d.cluster_port}.to_string());
  api->http_addr = endpoint{d.cfg.http.host, d.http_port}.to_string();
  api->cluster_addr = endpoint{d.cfg.cluster.host, d.cluster_port}.to_string();
  // The cluster actor: membership and replication. Its view of the
  // cluster lives in `cluster_mem`, so a restart keeps the node's place.
  cluster_options copts;
  copts.time = d.time;
  copts.self.name = d.cfg.node_name;
  copts.self.cluster_addr = api->cluster_addr;
  copts.self.http_addr = api->http_addr;
  copts.self.version = version;
  copts.self.incarnation = d.start_incarnation();
  copts.self.last_seen_ms = d.time->unix_ms();
  for (auto& seed : d.cfg.join) copts.seeds.push_back(seed.to_string());
  copts.save_incarnation = [&d](uint64_t n) { d.save_incarnation(n); };
  copts.registry = [dir] { return dir->registry(); };
  copts.on_owners = [dir,
                     owners = d.owners](std::vector<std::string> candidates) {
    if (!owners->set_candidates(std::move(candidates))) return;
    // Ownership moved: the registry re-files leases, the health checkers
    // take what this node now judges and drop the rest.
    if (auto reg = dir->registry()) caf::anon_send(reg, rejudge_atom::value);
    if (auto hs = dir->health_supervisor())
      caf::anon_send(hs, resync_atom::value);
  };
  copts.on_event = [dir](std::string type, std::string data) {
    if (auto ev = dir->events())
      caf::anon_send(ev, publish_atom::value, std::move(type), std::move(data));
  };
  copts.tree = [&d](std::function<void(std::string)> done) {
    auto root = d.actors.root();
    if (!root) return done("{}");
    inspect_tree(d.sys, root, "node_supervisor", std::chrono::milliseconds{500},
                 [done](actor_tree_node tree) {
                   done(nlohmann::json{{"root", web::to_json(tree)}}.dump());
                 });
  };
  copts.memory = d.cluster_mem;
  copts.reachable = [&ioc = d.probe_ioc](std::string host, uint16_t port,
                                         std::function<void(bool)> done) {
    web::probe_tcp(ioc, std::move(host), port, std::chrono::milliseconds{500},
                   std::move(done));
  };
  copts.meter = d.meter;
  copts.secret = d.cfg.cluster_secret;
  copts.tls = d.tls();
  child_spec cluster_spec;
  cluster_spec.id = "cluster";
  cluster_spec.kind = "cluster";
  cluster_spec.start = [dir, copts](caf::actor_system& sys) {
    auto h = spawn_cluster(sys, copts);
    dir->set(h);
    return caf::actor_cast<caf::actor>(h);
  };
  cluster_spec.restart = restart_type::permanent;
  children.push_back(std::move(cluster_spec));
  supervisor_options sopts;
  sopts.time = d.time;
  d.supervisor =
      spawn_supervisor(d.sys, "node_supervisor", sopts, std::move(children));
  d.actors.set_root(d.supervisor);
  // The root giving up (a child failing past its intensity) ends the node,
  // as an OTP application's top supervisor does: whoever runs the node
  // hears of it through `on_fatal`.
  d.supervisor->attach_functor([on_fatal = d.on_fatal](const caf::error& why) {
    if (why && why != caf::exit_reason::user_shutdown &&
        why != caf::exit_reason::normal && on_fatal)
      on_fatal(to_string(why));
  });
  web::install_api(*rt, api);
  web::install_actors_api(*rt, api);
  web::install_cluster_api(*rt, api);
  auto consul_ctx = std::make_shared<web::consul_context>();
  consul_ctx->actors = &d.actors;
  consul_ctx->token = d.cfg.token;
  consul_ctx->node_name = d.cfg.node_name;
  consul_ctx->node_address = d.cfg.http.host;
  consul_ctx->cluster_addr = api->cluster_addr;
  consul_ctx->long_poll = api->long_poll;
  web::install_consul_api(*rt, consul_ctx);
  web::upstream_options uopts;
  uopts.response_limit = d.cfg.upstream_response_limit;
  uopts.connect_timeout = d.cfg.upstream_connect_timeout;
  d.mesh = std::make_shared<web::mesh_caller>(
      d.loop_pointers(), d.actors.bulkheads(), d.cfg.policies, uopts, d.time,
      [dir = &d.actors] { return dir->mesh_supervisor(); },
      d.cfg.mesh_dispatch == "actor");
  web::install_mesh_api(*rt, d.mesh);
  d.mesh->set_metrics(d.cfg.mesh_metrics);
  api->mesh = d.mesh;  // before the loops run: `GET /metrics` reads it
  // Tracing: spans end on the loops, which copy them into the tracer's
  // buffer in batches (and, with export on, send the batches to the tracer
  // actor); with tracing off the mesh records none.
  auto sampling = sampler::parse(d.cfg.tracing.sampler);
  d.batcher = std::make_shared<web::span_batcher>(
      d.loop_pointers(), [dir] { return dir->tracer(); }, topts.buffer,
      static_cast<bool>(topts.post));
  d.spans = std::make_shared<valmesh::tracer>(
      d.cfg.tracing.enabled && sampling ? *sampling : sampler::never(), d.time,
      d.batcher);
  if (d.cfg.tracing.enabled) d.mesh->set_tracer(d.spans);
  auto tapi = std::make_shared<web::tracing_api_context>();
  tapi->actors = &d.actors;
  if (d.cfg.tracing.enabled) tapi->spans = d.spans;
  tapi->sampler =
      d.cfg.tracing.enabled ? d.spans->sampling().to_string() : "off";
  tapi->otlp_endpoint = d.cfg.tracing.otlp_endpoint;
  web::install_tracing_api(*rt, tapi);
  if (d.cfg.tracing.enabled) api->tracing = d.spans;
  // Every route is in: name the front end's per-route series.
  hopts.stats->set_routes(rt->patterns());
  d.probe_work.emplace(d.probe_ioc.get_executor());
  d.threads.emplace_back([&d] { d.probe_ioc.run(); });
  for (size_t i = 0; i < d.loops.size(); ++i) {
    d.work.emplace_back(d.loops[i]->get_executor());
    d.threads.emplace_back([&d, i] {
      web::set_this_thread_loop(static_cast<int>(i));
      d.loops[i]->run();
    });
  }
  // The supervisor starts its children asynchronously: wait for the
  // registry (registrations go to it) and the mesh supervisor (calls ask it
  // to catch up), then register the services of the config.
  if (!d.actors.await_registry(std::chrono::seconds{5}) ||
      !d.actors.await_mesh_supervisor(std::chrono::seconds{5}))
    return failure{errc::unavailable, "the supervision tree did not start"};
  for (auto x : d.cfg.services) {
    // A config service without an id gets a stable one, so registering it
    // again on every start updates the persisted entry instead of adding
    // one more (Consul gives service definitions a stable id too).
    if (x.id.empty()) {
      auto id = x.name + "-" + x.host + "-" + std::to_string(x.port);
      if (valid_instance_id(id)) x.id = std::move(id);
    }
    auto stored = register_service(x);
    if (!stored)
      return failure{stored.error().code, "cannot register service '" + x.name +
                                              "': " + stored.error().message};
    spdlog::info("registered {}/{} at {}:{}", stored->name, stored->id,
                 stored->host, stored->port);
  }
  return std::nullopt;
}

void node::on_fatal(std::function<void(std::string)> f) {
  impl_->on_fatal = std::move(f);
}

namespace {

/// The least time the span flush gets, even when the calls in flight used up
/// the drain timeout.
constexpr std::chrono::milliseconds min_flush_time{250};

}  // namespace

void node::impl::flush_spans(std::chrono::milliseconds budget) {
  using steady = std::chrono::steady_clock;
  auto deadline = steady::now() + budget;
  if (batcher && !batcher->flush(budget))
    spdlog::warn("tracing: a loop did not hand over its spans in time");
  auto t = actors.tracer();
  if (!t) return;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - steady::now());
  caf::scoped_actor self{sys};
  self->request(t, std::max(left, std::chrono::milliseconds{1}),
                flush_atom::value)
      .receive(
          [](const tracing_stats& s) {
            if (!s.export_enabled) return;
            spdlog::info(
                "tracing: export flushed ({} span(s) exported, {} failed, {} "
                "dropped)",
                s.exporter.exported, s.exporter.failed_spans,
                s.exporter.dropped);
          },
          [&](const caf::error&) {
            spdlog::warn(
                "tracing: spans still waiting for export after {}ms; they are "
                "lost",
                budget.count());
          });
}

bool node::drain(std::chrono::milliseconds timeout) {
  auto& d = *impl_;
  if (!d.started || d.stopped || !d.http) return true;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  d.draining.store(true);
  d.http->drain();
  if (d.consul_http) d.consul_http->drain();
  // Held blocking queries answer now rather than hold the drain.
  d.watches->release_all();
  auto left = d.http->in_flight();
  if (left > 0)
    spdlog::info("draining: waiting up to {}ms for {} request(s) in flight",
                 timeout.count(), left);
  auto idle = d.http->await_idle(timeout);
  if (d.consul_http)
    idle = d.consul_http->await_idle(
               std::max(std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now()),
                        std::chrono::milliseconds{1})) &&
           idle;
  d.leave_cluster(std::chrono::seconds{1});
  if (!idle)
    spdlog::warn(
        "draining: {} request(s) still in flight after {}ms; "
        "stopping anyway",
        d.http->in_flight(), timeout.count());
  // The calls are over (or cut off): their spans go to the tracer, and the
  // tracer exports what waits, within what is left of the timeout.
  auto rest = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  d.flush_spans(std::max(rest, min_flush_time));
  return idle;
}

void node::stop() {
  auto& d = *impl_;
  if (!d.started || d.stopped) return;
  d.stopped = true;
  if (d.http) d.http->stop_accepting();
  if (d.consul_http) d.consul_http->stop_accepting();
  d.work.clear();
  for (auto& loop : d.loops) loop->stop();
  d.probe_work.reset();
  d.probe_ioc.stop();
  for (auto& t : d.threads) t.join();
  d.threads.clear();
  d.http.reset();
  d.consul_http.reset();
  d.mesh.reset();
  // Every actor is exited explicitly: the system's destructor waits for all
  // of them, and a handle left in a global would hang it (CAF 0.17).
  if (d.gateway) {
    if (d.tls())
      caf::make_function_view(d.sys.openssl_manager().actor_handle())(
          caf::unpublish_atom::value, d.gateway.address(), d.cluster_port);
    else
      d.sys.middleman().unpublish(d.gateway, d.cluster_port);
    caf::anon_send_exit(d.gateway, caf::exit_reason::user_shutdown);
    d.gateway = nullptr;
  }
  if (d.supervisor) {
    caf::anon_send_exit(d.supervisor, caf::exit_reason::user_shutdown);
    d.supervisor = nullptr;
  }
  // Wait until every actor is gone before anything they point at goes.
  d.actors.clear();
  d.sys.await_all_actors_done();
  d.shut_loops_down();
}

expected<service_instance> node::register_service(service_instance x) {
  auto valid = validate_instance(std::move(x));
  if (!valid) return valid;
  return impl_->ask<service_instance>(register_atom::value, std::move(*valid));
}

expected<service_instance> node::get_service(const std::string& name,
                                             resolve_options options) {
  return impl_->ask<service_instance>(resolve_atom::value, name, options);
}

expected<std::vector<service_instance>> node::instances(
    const std::string& name) {
  return impl_->ask<std::vector<service_instance>>(get_atom::value, name);
}

expected<service_instance> node::deregister(const std::string& name,
                                            const std::string& id) {
  return impl_->ask<service_instance>(deregister_atom::value, name, id);
}

tracer& node::tracer() {
  auto& d = *impl_;
  if (!d.spans)  // before start(): a tracer that records nothing
    d.spans = std::make_shared<valmesh::tracer>(sampler::never(), d.time,
                                                std::shared_ptr<span_sink>{});
  return *d.spans;
}

expected<call_result> node::call_service(const std::string& name,
                                         call_options options) {
  auto& d = *impl_;
  if (!d.mesh) return failure{errc::unavailable, "the node is not running"};
  web::mesh_request m;
  m.service = name;
  m.method = boost::beast::http::string_to_verb(options.method);
  if (m.method == boost::beast::http::verb::unknown)
    return failure{errc::invalid_argument,
                   "not an HTTP method: " + options.method};
  m.target = std::move(options.path);
  m.headers = std::move(options.headers);
  // A call inside a scoped span is its child.
  if (auto* cur = scoped_span::current();
      cur && !valmesh::tracer::extract(m.headers))
    valmesh::tracer::inject(*cur, m.headers);
  m.body = std::move(options.body);
  m.correlation_id = std::move(options.correlation_id);
  m.overrides = {options.timeout, options.retries};
  if (auto f = validate_overrides(m.overrides)) return *f;
  std::promise<web::mesh_result> p;
  auto f = p.get_future();
  d.mesh->call(std::move(m),
               [&p](web::mesh_result&& r) { p.set_value(std::move(r)); });
  auto r = f.get();
  if (r.error) return std::move(*r.error);
  return call_result{
      r.status,   std::move(r.headers),  std::move(r.body),
      r.attempts, std::move(r.instance), std::move(r.correlation_id),
      r.duration};
}

}  // namespace valmesh
