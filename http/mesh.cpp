#include "http/mesh.hpp"

#include <algorithm>
#include <array>
#include <mutex>
#include <unordered_map>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/string.hpp>

#include "http/arena.hpp"
#include "http/server.hpp"
#include "runtime/common/clock.hpp"
#include "runtime/common/random.hpp"
#include "runtime/common/recycling_allocator.hpp"
#include "runtime/mesh/report_schedule.hpp"
#include "runtime/mesh/retry.hpp"

namespace valmesh::web {

using namespace std::string_view_literals;

namespace net = boost::asio;
using boost::beast::iequals;

std::string make_correlation_id() {
  thread_local uint64_t state = random_seed();
  static constexpr char hex[] = "0123456789abcdef";
  char id[32];
  for (int half = 0; half < 2; ++half) {
    auto x = splitmix64(state);
    for (int i = 0; i < 16; ++i, x >>= 4) id[half * 16 + i] = hex[x & 15];
  }
  return std::string(id, sizeof id);
}

namespace {

/// Whether `name` is one of the tokens of a Connection header's `value`
/// (those headers are hop-by-hop too).
bool listed_in(std::string_view value, std::string_view name) {
  while (!value.empty()) {
    auto comma = value.find(',');
    auto token = value.substr(0, comma);
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t'))
      token.remove_prefix(1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t'))
      token.remove_suffix(1);
    if (iequals(token, name)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

/// A set of header kinds.
constexpr uint32_t kinds(std::initializer_list<header_kind> xs) noexcept {
  uint32_t bits = 0;
  for (auto x : xs) bits |= 1u << static_cast<unsigned>(x);
  return bits;
}

constexpr bool in(uint32_t set, header_kind k) noexcept {
  return (set >> static_cast<unsigned>(k)) & 1u;
}

/// The headers a proxy passes on: without hop-by-hop ones, those the
/// Connection header names, Content-Length, and the kinds in `drop`.
/// Filters `h` in place (no copies: this runs twice per proxied call),
/// classifying each name once.
header_list forwardable(header_list h, uint32_t drop) {
  drop |= kinds({header_kind::hop_by_hop, header_kind::connection,
                 header_kind::transfer_encoding, header_kind::content_length});
  // The kinds of the first `remembered` headers, for the filter below.
  constexpr size_t remembered = 32;
  std::array<header_kind, remembered> kind_of;
  // A copy, not a view: the filter moves kept headers down over the
  // Connection header's place before it has looked at every name.
  std::string connection;
  for (size_t i = 0; i < h.size(); ++i) {
    auto kind = classify_header(h[i].first);
    if (i < remembered) kind_of[i] = kind;
    if (kind == header_kind::connection) connection = h[i].second;
  }
  size_t kept = 0;
  for (size_t i = 0; i < h.size(); ++i) {
    auto kind = i < remembered ? kind_of[i] : classify_header(h[i].first);
    if (in(drop, kind)) continue;
    if (!connection.empty() && listed_in(connection, h[i].first)) continue;
    if (kept != i) h[kept] = std::move(h[i]);
    ++kept;
  }
  h.erase(h.begin() + static_cast<std::ptrdiff_t>(kept), h.end());
  return h;
}

}  // namespace

/// What a mesh call needs of the event loop it runs on: the loop, its
/// upstream connections, and the breaker outcomes gathered in this pass.
/// Only the loop's own thread touches it.
struct mesh_loop {
  mesh_loop(net::io_context& ioc, upstream_options upstream)
      : ioc(ioc), pool(ioc, upstream), timer(ioc) {}

  net::io_context& ioc;
  upstream_pool pool;
  net::steady_timer timer;
  /// The mesh's counts of this loop (`GET /metrics`, `GET /api/stats`).
  mesh_stats stats;
  /// Attempts waiting for an upstream answer (each holds a connection).
  uint64_t attempts_in_flight = 0;
  /// Breaker outcomes gathered for the next flush, and when it comes.
  std::vector<std::pair<breaker_actor, breaker_outcome>> outcomes;
  report_schedule schedule;

  /// Queues a breaker outcome; `urgent`: it goes within
  /// `report_schedule::soon_period` (else within its `calm_period`).
  void report(const breaker_actor& b, breaker_outcome o, bool urgent) {
    outcomes.emplace_back(b, o);
    auto next = schedule.on_report(outcomes.size(), urgent);
    switch (next.what) {
      case report_schedule::action::none:
        return;
      case report_schedule::action::flush_now:
        timer.cancel();  // its handler then finds nothing to do
        return flush();
      case report_schedule::action::arm:
        // Setting the expiry cancels the later wait this one replaces. A
        // wait that already expired still runs its handler: it flushes
        // early, and this one then finds nothing or only what came since.
        timer.expires_after(next.after);
        timer.async_wait([this](boost::system::error_code ec) {
          if (!ec) flush();
        });
        return;
    }
  }

  void flush() {
    schedule.on_flush();
    if (outcomes.empty()) return;
    // Group by breaker: few distinct ones per pass (the instances called).
    std::vector<std::pair<breaker_actor, std::vector<breaker_outcome>>> by;
    for (auto& [b, o] : outcomes) {
      auto i = std::find_if(by.begin(), by.end(),
                            [&](auto& e) { return e.first == b; });
      if (i == by.end()) {
        by.emplace_back(b, std::vector<breaker_outcome>{});
        i = std::prev(by.end());
      }
      i->second.push_back(o);
    }
    outcomes.clear();
    for (auto& [b, os] : by)
      caf::anon_send(b, outcome_atom::value, std::move(os));
  }
};

struct mesh_caller::impl {
  impl(const std::vector<net::io_context*>& iocs,
       const mesh_directory& bulkheads, mesh_policies policies,
       upstream_options upstream, std::shared_ptr<const clock> time)
      : bulkheads(bulkheads),
        policies(std::move(policies)),
        time(std::move(time)) {
    for (auto* ioc : iocs)
      loops.push_back(std::make_unique<mesh_loop>(*ioc, upstream));
  }

  /// The service's retry budget (created on first use).
  retry_budget& budget(const std::string& service, const call_policy& p) {
    auto i = budgets.find(service);
    if (i == budgets.end())
      i = budgets
              .emplace(service, retry_budget{p.retry_budget_ratio,
                                             p.retry_budget_min_per_second})
              .first;
    return i->second;
  }

  void count_request(const std::string& service, const call_policy& p,
                     clock::time_point now) {
    std::lock_guard<std::mutex> guard{budget_mtx};
    budget(service, p).on_request(now);
  }

  bool allow_retry(const std::string& service, const call_policy& p) {
    std::lock_guard<std::mutex> guard{budget_mtx};
    return budget(service, p).try_retry(time->now());
  }

  const mesh_directory& bulkheads;
  mesh_policies policies;
  bool dispatch_via_actor = false;
  std::function<mesh_supervisor_actor()> supervisor;
  std::vector<std::unique_ptr<mesh_loop>> loops;
  std::shared_ptr<const clock> time;
  std::mutex budget_mtx;
  std::unordered_map<std::string, retry_budget> budgets;
  std::shared_ptr<tracer> spans;  ///< null: tracing off
  bool counting = true;           ///< false: no mesh metrics at all

  /// The current second of the node's steady clock (the rings' time).
  int64_t second() const { return second_of(time->now()); }
  static int64_t second_of(clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(
               t.time_since_epoch())
        .count();
  }
};

namespace {

/// One mesh call: the attempts, each a bulkhead permit, one upstream
/// exchange and the reports that follow, and the retries between them (the
/// retry utility's rules, `detail::plan_retry`, driven by the call itself:
/// no `std::function` per attempt and no state beside the call's).
class call_op : public std::enable_shared_from_this<call_op> {
 public:
  call_op(std::shared_ptr<mesh_caller::impl> m, mesh_loop& loop,
          mesh_request&& req, mesh_caller::callback&& done)
      : m_(std::move(m)),
        loop_(loop),
        req_(std::move(req)),
        done_(std::move(done)) {
    policy_ = with_overrides(m_->policies.of(req_.service), req_.overrides);
    idempotent_ = is_idempotent(req_.method);
  }

  void start() {
    started_ = event_scope::now();
    // The mesh's clock is read once per event and passed down.
    auto now = m_->time->now();
    deadline_ = now + policy_.timeout;
    if (m_->spans) start_server_span();
    prepare();
    if (server_.recording()) {
      server_.set_attribute(known_attribute::valmesh_correlation_id,
                            req_.correlation_id);
      if (!req_.client_addr.empty())
        server_.set_attribute(known_attribute::client_address,
                              req_.client_addr);
    }
    m_->count_request(req_.service, policy_, now);
    retry_ = retry_options_for(policy_);
    // `plan_retry` calls it only while this call runs: a plain pointer,
    // which fits in std::function's own buffer.
    retry_.retryable = [op = this](const failure&) {
      if (!op->retryable_ ||
          !method_may_retry(op->policy_, op->idempotent_, op->nothing_sent_))
        return false;
      if (op->m_->allow_retry(op->req_.service, op->policy_)) return true;
      if (op->stats_) ++op->stats_->figures.retries_refused;
      return false;
    };
    backoff_.emplace(retry_.backoff, detail::seed_of(retry_));
    if (retry_.timeout) retry_deadline_ = now + *retry_.timeout;
    attempt(now);
  }

 private:
  /// The headers every attempt sends (docs/API.md).
  void prepare() {
    // One pass for the headers read here.
    const std::string *cid = nullptr, *xff_in = nullptr, *host_in = nullptr;
    bool has_xfh = false;
    for (auto& [k, v] : req_.headers) {
      switch (classify_header(k)) {
        case header_kind::x_correlation_id:
          if (!cid) cid = &v;
          break;
        case header_kind::x_forwarded_for:
          if (!xff_in) xff_in = &v;
          break;
        case header_kind::x_forwarded_host:
          has_xfh = true;
          break;
        case header_kind::host:
          if (!host_in) host_in = &v;
          break;
        default:
          break;
      }
    }
    // Two branches, not `cid ? *cid : make_correlation_id()`: that
    // expression is a const string, which is assigned by copy.
    if (req_.correlation_id.empty()) {
      if (cid && !cid->empty())
        req_.correlation_id = *cid;
      else
        req_.correlation_id = make_correlation_id();
    }
    upstream_.method = req_.method;
    upstream_.target = req_.target;
    // The mesh's own headers, as lines after the client's (read above, so
    // before the filter below moves them): one string, not a string per
    // name and value. With tracing on, each attempt writes its own client
    // span's context (in `on_grant`) over the zeros of `traceparent`.
    auto& f = fields_;
    f.clear();
    f.reserve(fields_reserve);
    auto line = [&f](std::string_view k, std::string_view v) {
      f.append(k).append(": "sv).append(v).append("\r\n"sv);
    };
    if (m_->spans) {
      f.append("traceparent: "sv);
      traceparent_at_ = f.size();
      f.append(traceparent_size, '0').append("\r\n"sv);
      if (!server_.trace_state().empty())
        line("tracestate", server_.trace_state());
    }
    line("X-Correlation-ID", req_.correlation_id);
    bool has_xff = xff_in && !xff_in->empty();
    if (!req_.client_addr.empty() && has_xff)
      f.append("X-Forwarded-For: "sv)
          .append(*xff_in)
          .append(", "sv)
          .append(req_.client_addr)
          .append("\r\n"sv);
    else if (!req_.client_addr.empty())
      line("X-Forwarded-For", req_.client_addr);
    else if (has_xff)
      line("X-Forwarded-For", *xff_in);
    if (host_in && !has_xfh && !host_in->empty())
      line("X-Forwarded-Host", *host_in);
    using k = header_kind;
    auto replaced = kinds({k::host, k::x_correlation_id, k::x_forwarded_for,
                           k::x_valmesh_timeout_ms, k::x_valmesh_retries});
    if (m_->spans) replaced |= kinds({k::traceparent, k::tracestate});
    upstream_.headers = forwardable(std::move(req_.headers), replaced);
    upstream_.body = std::move(req_.body);
    upstream_.fields = fields_;
  }

  void attempt(clock::time_point now) {
    ++attempts_;
    instance_tried_ = false;
    retryable_ = false;
    nothing_sent_ = false;
    last_.reset();
    auto bulkhead = m_->bulkheads.find(req_.service);
    if (!bulkhead) {
      if (synced_ || !m_->supervisor) return no_instances();
      // The service may have been registered an instant ago: its change
      // reaches the mesh supervisor before any message sent after the
      // registration was acknowledged. Let the supervisor catch up, once.
      synced_ = true;
      --attempts_;
      auto sup = m_->supervisor();
      if (!sup) return no_instances();
      struct once {
        std::shared_ptr<call_op> op;
        ~once() {  // called or dropped: look again on the loop
          if (!op) return;
          net::post(op->loop_.ioc,
                    [op = op] { op->attempt(op->m_->time->now()); });
        }
      };
      auto o = std::make_shared<once>();
      o->op = shared_from_this();
      caf::anon_send(sup, flush_atom::value, std::function<void()>{[o] {}});
      return;
    }
    gate_ = bulkhead;  // this attempt's permit goes back to this bulkhead
    if (!stats_ && m_->counting) {
      // Counted once the mesh knows the service, so a call to a name that
      // does not exist leaves no series behind.
      stats_ = &loop_.stats.service(req_.service);
      ++stats_->figures.in_flight;
    }
    if (!m_->dispatch_via_actor) {
      if (auto granted = bulkhead.gate->try_acquire(tried_, now))
        return on_grant(std::move(*granted), now);
    }
    // A queued call (or any call on the actor path) is answered from
    // another thread; if the bulkhead goes away first it drops the
    // callback, and the guard answers instead.
    struct guard {
      std::shared_ptr<call_op> op;
      bool called = false;
      ~guard() {
        if (called || !op) return;
        net::post(op->loop_.ioc, [op = op] {
          op->attempt_finished(
              failure{errc::unavailable,
                      "the bulkhead of '" + op->req_.service + "' stopped"});
        });
      }
    };
    auto g = std::make_shared<guard>();
    g->op = shared_from_this();
    grant_fn later{[g](expected<mesh_grant> r) {
      g->called = true;
      net::post(g->op->loop_.ioc, [op = g->op, r = std::move(r)]() mutable {
        op->on_grant(std::move(r), op->m_->time->now());
      });
    }};
    if (m_->dispatch_via_actor) {
      caf::anon_send(bulkhead.actor, acquire_atom::value, tried_,
                     std::move(later));
      return;
    }
    auto granted = bulkhead.gate->acquire(tried_, later, now);
    if (granted) {
      g->called = true;
      return on_grant(std::move(*granted), now);
    }
    // Waiting: the bulkhead actor runs the queue's timer.
    caf::anon_send(bulkhead.actor, tick_atom::value, uint64_t{0});
  }

  void no_instances() {
    attempt_finished(
        failure{errc::no_healthy_instance,
                "service '" + req_.service + "' has no instances"});
  }

  void on_grant(expected<mesh_grant>&& r, clock::time_point now) {
    if (!r) {
      if (stats_ && r.error().code == errc::bulkhead_full)
        ++stats_->figures.bulkhead_rejections;
      return attempt_finished(std::move(r).error());
    }
    // The attempt's permit lives in the call (attempts never overlap), not
    // in the callbacks that follow it.
    grant_ = std::move(*r);
    auto& grant = grant_;
    auto budget = attempt_budget(now, deadline_, policy_.try_timeout());
    if (!budget) {
      release(grant, true);
      return attempt_finished(
          failure{errc::deadline_exceeded, deadline_message()});
    }
    upstream_.timeout = std::chrono::ceil<std::chrono::milliseconds>(*budget);
    if (m_->spans) start_client_span(grant);
    sent_ = event_scope::now();
    ++loop_.attempts_in_flight;
    // Holds only the call, which fits inside the callback (inline_function).
    loop_.pool.send(grant.grant.address, upstream_,
                    [self = shared_from_this()](upstream_result&& res) {
                      self->on_result(std::move(res));
                    });
  }

  void on_result(upstream_result&& res) {
    const auto& grant = grant_;
    auto took = std::chrono::duration_cast<std::chrono::microseconds>(
        event_scope::now() - sent_);
    auto now = m_->time->now();
    bool failed = !res.ok || is_failure_status(res.response.status);
    --loop_.attempts_in_flight;
    if (stats_) count_attempt(grant, res, took, now);
    if (grant.breaker)
      loop_.report(
          grant.breaker,
          {grant.grant.generation, failed, static_cast<int64_t>(took.count())},
          report_schedule::is_urgent(policy_.breaker, grant.grant.breaker,
                                     failed, took));
    release(grant, false);
    instance_tried_ = true;
    if (client_.recording()) end_client_span(res);
    client_.end();
    if (res.ok) {
      auto result = to_result(std::move(res.response));
      if (!is_retryable_status(result.status))
        return attempt_finished(std::move(result), now);
      retryable_ = true;
      auto status = result.status;
      last_ = std::move(result);
      return attempt_finished(
          failure{errc::bad_gateway,
                  "the upstream answered " + std::to_string(status)},
          now);
    }
    using kind = upstream_error::kind;
    auto where = "instance " + grant.grant.id + " (" +
                 grant.grant.address.to_string() + "): ";
    switch (res.error.what) {
      case kind::connect:
        retryable_ = nothing_sent_ = true;
        return attempt_finished(
            failure{errc::bad_gateway, where + res.error.message}, now);
      case kind::reset:
        retryable_ = true;
        return attempt_finished(
            failure{errc::bad_gateway, where + res.error.message}, now);
      case kind::timeout:
        retryable_ = true;  // a per-try timeout; the deadline stops it anyway
        if (now >= deadline_)
          return attempt_finished(
              failure{errc::deadline_exceeded, deadline_message()}, now);
        return attempt_finished(
            failure{errc::deadline_exceeded,
                    where + "no answer within the per-try timeout of " +
                        std::to_string(policy_.try_timeout().count()) + "ms"},
            now);
      case kind::too_large:
      case kind::protocol:
        return attempt_finished(
            failure{errc::bad_gateway, where + res.error.message}, now);
    }
  }

  void count_attempt(const mesh_grant& grant, const upstream_result& res,
                     std::chrono::microseconds took, clock::time_point now) {
    using kind = upstream_error::kind;
    auto result = res.ok ? result_of_status(res.response.status)
                  : res.error.what == kind::timeout
                      ? mesh_outcome::deadline_exceeded
                      : mesh_outcome::bad_gateway;
    mesh_stats::attempt_finished(
        *stats_, grant.grant.id, mesh_caller::impl::second_of(now), result,
        static_cast<double>(took.count()) / 1e6,
        res.ok && res.response.reused_connection, res.ok,
        !res.ok && res.error.what == kind::timeout);
  }

  void release(const mesh_grant& grant, bool unused) {
    if (m_->dispatch_via_actor)
      caf::anon_send(gate_.actor, release_atom::value, grant.grant.id,
                     grant.grant.generation, unused);
    else
      gate_.gate->release(grant.grant.id, grant.grant.generation, unused);
  }

  mesh_result to_result(upstream_response&& r) {
    mesh_result x;
    x.status = r.status;
    x.headers = forwardable(std::move(r.headers),
                            kinds({header_kind::x_correlation_id}));
    x.body = std::move(r.body);
    return x;
  }

  std::string deadline_message() const {
    return "no answer within the deadline of " +
           std::to_string(policy_.timeout.count()) + "ms (" +
           std::to_string(attempts_) + " attempts)";
  }

  /// The end of an attempt: the call's end, or a wait and the next one.
  void attempt_finished(expected<mesh_result>&& r) {
    attempt_finished(std::move(r), m_->time->now());
  }

  void attempt_finished(expected<mesh_result>&& r, clock::time_point now) {
    if (r) return finish(std::move(r), now);
    auto wait = detail::plan_retry(retry_, *backoff_, retries_, r.error(), now,
                                   retry_deadline_);
    if (!wait) return finish(std::move(r), now);
    ++retries_;
    // The next attempt avoids the instances tried (recorded only now: a
    // call that is not retried never needs the list).
    if (instance_tried_) tried_.push_back(grant_.grant.id);
    auto t = std::make_shared<net::steady_timer>(loop_.ioc, *wait);
    t->async_wait([t, self = shared_from_this()](boost::system::error_code) {
      self->attempt(self->m_->time->now());
    });
  }

  void finish(expected<mesh_result>&& r, clock::time_point now) {
    // The result is completed where it lies and handed on by reference:
    // it is moved once, by whoever keeps it.
    mesh_result failed;
    if (!r && !last_) failed.error = std::move(r).error();
    // Retries that ran out on a 502/503/504 pass the last answer on.
    mesh_result& x = r ? *r : last_ ? *last_ : failed;
    x.attempts = attempts_;
    x.instance = grant_.grant.id;  // the last attempt's (empty: none granted)
    // The call ends here: its id moves to the result (no attempt reads it
    // after this; the spans took their copies when they started).
    x.correlation_id = std::move(req_.correlation_id);
    x.duration = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - started_);
    if (server_.recording()) end_server_span(x);
    server_.end();
    if (stats_) {
      --stats_->figures.in_flight;
      mesh_stats::call_finished(
          *stats_, mesh_caller::impl::second_of(now),
          x.error ? result_of_error(x.error->code) : result_of_status(x.status),
          x.attempts, static_cast<double>(x.duration.count()) / 1e6);
    }
    auto done = std::move(done_);
    done(std::move(x));
  }

  // -- spans (attribute names in docs/ARCHITECTURE.md) -----------------------

  /// The call's span: a server span continuing the client's `traceparent`
  /// (an internal one for the C++ API).
  void start_server_span() {
    auto& t = *m_->spans;
    auto method = boost::beast::http::to_string(req_.method);
    auto kind = req_.route.empty() ? span_kind::internal : span_kind::server;
    if (auto remote = tracer::extract(req_.headers))
      server_ = t.start_span({}, kind, &remote->parent, remote->trace_state);
    else
      server_ = t.start_span({}, kind, nullptr);
    if (!server_.recording()) return;
    server_.reserve_attributes(12);
    if (req_.route.empty()) {
      server_.set_name({"call ", req_.service});
    } else {
      // The route with the service for its `:name`: "GET /proxy/orders/*".
      std::string_view route = req_.route;
      auto at = route.find(":name");
      if (at == std::string_view::npos)
        server_.set_name({{method.data(), method.size()}, " ", route});
      else
        server_.set_name({{method.data(), method.size()},
                          " ",
                          route.substr(0, at),
                          req_.service,
                          route.substr(at + 5)});
    }
    server_.set_attribute(known_attribute::http_request_method, method);
    if (!req_.route.empty())
      server_.set_attribute(known_attribute::http_route, req_.route);
    auto q = req_.target.find('?');
    server_.set_attribute(known_attribute::url_path,
                          std::string_view{req_.target}.substr(0, q));
    server_.set_attribute(known_attribute::valmesh_service, req_.service);
  }

  /// One upstream attempt's client span, child of the call's span; its
  /// context goes upstream in `traceparent`.
  void start_client_span(const mesh_grant& grant) {
    client_ = m_->spans->start_child(server_, {}, span_kind::client);
    std::array<char, traceparent_size> tp;
    format_traceparent(client_.context(), tp);
    std::copy(tp.begin(), tp.end(),
              fields_.begin() + static_cast<std::ptrdiff_t>(traceparent_at_));
    if (!client_.recording()) return;
    client_.reserve_attributes(12);
    auto method = boost::beast::http::to_string(req_.method);
    client_.set_name({{method.data(), method.size()}, " ", req_.service});
    client_.set_attribute(known_attribute::http_request_method, method);
    client_.set_attribute(known_attribute::server_address,
                          grant.grant.address.host);
    client_.set_attribute(known_attribute::server_port,
                          static_cast<int64_t>(grant.grant.address.port));
    auto q = req_.target.find('?');
    client_.set_attribute(known_attribute::url_path,
                          std::string_view{req_.target}.substr(0, q));
    client_.set_attribute(known_attribute::valmesh_service, req_.service);
    client_.set_attribute(known_attribute::valmesh_instance, grant.grant.id);
    client_.set_attribute(known_attribute::valmesh_attempt,
                          static_cast<int64_t>(attempts_));
    client_.set_attribute(known_attribute::valmesh_breaker_state,
                          to_string(grant.grant.breaker));
    client_.set_attribute(known_attribute::valmesh_correlation_id,
                          req_.correlation_id);
  }

  void end_client_span(const upstream_result& res) {
    if (res.ok) {
      auto status = res.response.status;
      client_.set_attribute(known_attribute::http_response_status_code,
                            static_cast<int64_t>(status));
      if (status >= 400)
        client_.set_status(status_code::error,
                           "HTTP " + std::to_string(status));
      else
        client_.set_status(status_code::ok);
      return;
    }
    using kind = upstream_error::kind;
    std::string_view type = "protocol";
    switch (res.error.what) {
      case kind::connect:
        type = "connect";
        break;
      case kind::timeout:
        type = "timeout";
        break;
      case kind::reset:
        type = "reset";
        break;
      case kind::too_large:
        type = "too_large";
        break;
      case kind::protocol:
        type = "protocol";
        break;
    }
    client_.set_attribute(known_attribute::error_type, type);
    client_.set_status(status_code::error, res.error.message);
  }

  void end_server_span(const mesh_result& x) {
    server_.set_attribute(known_attribute::valmesh_attempts,
                          static_cast<int64_t>(x.attempts));
    if (!x.instance.empty())
      server_.set_attribute(known_attribute::valmesh_instance, x.instance);
    if (x.error) {
      auto status = static_cast<int64_t>(status_of(x.error->code));
      server_.set_attribute(known_attribute::http_response_status_code, status);
      server_.set_attribute(known_attribute::error_type,
                            to_string(x.error->code));
      server_.set_status(status_code::error, x.error->message);
      return;
    }
    server_.set_attribute(known_attribute::http_response_status_code,
                          static_cast<int64_t>(x.status));
    if (x.status >= 500)
      server_.set_status(status_code::error,
                         "HTTP " + std::to_string(x.status));
    else
      server_.set_status(status_code::ok);
  }

  std::shared_ptr<mesh_caller::impl> m_;
  mesh_loop& loop_;
  mesh_request req_;
  mesh_caller::callback done_;
  call_policy policy_;
  bool idempotent_ = true;
  upstream_request upstream_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point sent_;  ///< the current attempt's
  clock::time_point deadline_;
  uint32_t attempts_ = 0;
  // The retries: the policy's options, the waits, the deadline over all.
  retry_options retry_;
  std::optional<backoff> backoff_;
  std::optional<clock::time_point> retry_deadline_;
  uint32_t retries_ = 0;
  bool synced_ = false;         ///< waited once for the mesh to see the service
  mesh_directory::entry gate_;  ///< the bulkhead of the current attempt
  mesh_grant grant_;            ///< the current attempt's permit
  /// This call's service in the loop's counts; null: not counted.
  mesh_stats::service_entry* stats_ = nullptr;
  std::vector<std::string> tried_;  ///< instances the retries avoid
  bool instance_tried_ = false;     ///< this attempt went to `grant_`'s
  // What the last attempt left for the retry decision.
  bool retryable_ = false;
  bool nothing_sent_ = false;
  std::optional<mesh_result> last_;
  // The mesh's header lines to the upstream (`upstream_.fields` views
  // them), in the call's own memory.
  // `reserve(fields_reserve)` asks the arena for one byte more (the
  // terminator), so the space has room beyond it.
  static constexpr size_t fields_reserve = 256;
  alignas(std::max_align_t)
      std::array<std::byte, fields_reserve + 64> fields_space_;
  bump_arena fields_arena_{fields_space_.data(), fields_space_.size()};
  arena_string fields_{arena_allocator<char>{&fields_arena_}};
  // Tracing: the call's span, the current attempt's, and where the
  // attempt's `traceparent` value sits in `fields_`.
  span server_;
  span client_;
  size_t traceparent_at_ = 0;
};

}  // namespace

mesh_caller::mesh_caller(const std::vector<net::io_context*>& loops,
                         const mesh_directory& bulkheads,
                         mesh_policies policies, upstream_options upstream,
                         std::shared_ptr<const clock> time,
                         std::function<mesh_supervisor_actor()> supervisor,
                         bool via_actor)
    : impl_(std::make_shared<impl>(loops, bulkheads, std::move(policies),
                                   upstream, std::move(time))) {
  impl_->dispatch_via_actor = via_actor;
  impl_->supervisor = std::move(supervisor);
}

mesh_caller::~mesh_caller() = default;

void mesh_caller::set_tracer(std::shared_ptr<tracer> t) {
  impl_->spans = std::move(t);
}

void mesh_caller::set_metrics(bool on) {
  impl_->counting = on;
}

void mesh_caller::gather(int64_t window, live_fn live, gather_fn done) {
  // Each loop copies its own counts on its own thread; the last one to
  // finish hands the merged figures on.
  struct pass {
    std::mutex mtx;
    size_t left = 0;
    mesh_figures figures;
    uint64_t connections = 0;
    gather_fn done;
  };
  auto p = std::make_shared<pass>();
  p->left = impl_->loops.size();
  p->done = std::move(done);
  auto shared_live = std::make_shared<live_fn>(std::move(live));
  for (auto& l : impl_->loops) {
    auto* loop = l.get();
    net::post(loop->ioc, [m = impl_, loop, p, shared_live, window] {
      if (*shared_live) loop->stats.prune(*shared_live);
      mesh_figures mine;
      loop->stats.collect(m->second(), window, mine);
      auto connections =
          loop->pool.idle_connections() + loop->attempts_in_flight;
      std::unique_lock<std::mutex> guard{p->mtx};
      for (auto& [name, f] : mine) p->figures[name].merge(f);
      p->connections += connections;
      if (--p->left > 0) return;
      guard.unlock();
      p->done(std::move(p->figures), p->connections);
    });
  }
}

void mesh_caller::call(mesh_request&& req, callback done) {
  auto& loops = impl_->loops;
  auto i = this_thread_loop();
  if (i >= 0 && static_cast<size_t>(i) < loops.size()) {
    make_recycled<call_op>(impl_, *loops[i], std::move(req), std::move(done))
        ->start();
    return;
  }
  // From another thread (the C++ API): run on the first loop.
  auto& loop = *loops.front();
  net::post(loop.ioc, [m = impl_, &loop, req = std::move(req),
                       done = std::move(done)]() mutable {
    make_recycled<call_op>(m, loop, std::move(req), std::move(done))->start();
  });
}

}  // namespace valmesh::web
