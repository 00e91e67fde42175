#include "runtime/metrics/mesh_stats.hpp"

#include <cstdio>

#include "runtime/metrics/text_writer.hpp"

namespace valmesh {

std::string_view to_label(mesh_outcome x) noexcept {
  switch (x) {
    case mesh_outcome::status_1xx:
      return "1xx";
    case mesh_outcome::status_2xx:
      return "2xx";
    case mesh_outcome::status_3xx:
      return "3xx";
    case mesh_outcome::status_4xx:
      return "4xx";
    case mesh_outcome::status_5xx:
      return "5xx";
    case mesh_outcome::bad_gateway:
      return "bad_gateway";
    case mesh_outcome::bulkhead_full:
      return "bulkhead_full";
    case mesh_outcome::circuit_open:
      return "circuit_open";
    case mesh_outcome::no_healthy_instance:
      return "no_healthy_instance";
    case mesh_outcome::deadline_exceeded:
      return "deadline_exceeded";
    case mesh_outcome::unavailable:
      return "unavailable";
  }
  return "unavailable";
}

mesh_outcome result_of_status(unsigned status) noexcept {
  if (status < 100 || status >= 600) return mesh_outcome::status_5xx;
  return static_cast<mesh_outcome>(status / 100 - 1);
}

mesh_outcome result_of_error(errc code) noexcept {
  switch (code) {
    case errc::bad_gateway:
      return mesh_outcome::bad_gateway;
    case errc::bulkhead_full:
      return mesh_outcome::bulkhead_full;
    case errc::circuit_open:
      return mesh_outcome::circuit_open;
    case errc::no_healthy_instance:
      return mesh_outcome::no_healthy_instance;
    case errc::deadline_exceeded:
    case errc::timeout:
      return mesh_outcome::deadline_exceeded;
    default:
      return mesh_outcome::unavailable;
  }
}

void instance_figures::merge(const instance_figures& o) noexcept {
  for (size_t i = 0; i < mesh_outcome_count; ++i) results[i] += o.results[i];
  try_timeouts += o.try_timeouts;
  connections_opened += o.connections_opened;
  connections_reused += o.connections_reused;
  attempt_latency.merge(o.attempt_latency);
  window.merge(o.window);
}

void service_figures::merge(const service_figures& o) {
  for (size_t i = 0; i < mesh_outcome_count; ++i) results[i] += o.results[i];
  attempts += o.attempts;
  retries += o.retries;
  retries_refused += o.retries_refused;
  try_timeouts += o.try_timeouts;
  bulkhead_rejections += o.bulkhead_rejections;
  in_flight += o.in_flight;
  latency.merge(o.latency);
  attempt_latency.merge(o.attempt_latency);
  window.merge(o.window);
  for (auto& [id, x] : o.instances) instances[id].merge(x);
}

void mesh_stats::call_finished(service_entry& s, int64_t now, mesh_outcome r,
                               uint32_t attempts, double latency_s) {
  auto& f = s.figures;
  ++f.results[static_cast<size_t>(r)];
  if (attempts > 1) f.retries += attempts - 1;
  f.latency.observe(latency_s);
  s.ring.add(now, is_failure(r), latency_s);
}

void mesh_stats::attempt_finished(service_entry& s, const std::string& id,
                                  int64_t now, mesh_outcome r, double latency_s,
                                  bool reused_connection, bool connected,
                                  bool try_timeout) {
  auto& f = s.figures;
  ++f.attempts;
  f.attempt_latency.observe(latency_s);
  if (try_timeout) ++f.try_timeouts;
  auto& e = s.instance(id);
  auto& x = e.figures;
  ++x.results[static_cast<size_t>(r)];
  if (try_timeout) ++x.try_timeouts;
  if (connected)
    ++(reused_connection ? x.connections_reused : x.connections_opened);
  x.attempt_latency.observe(latency_s);
  e.ring.add(now, is_failure(r), latency_s);
}

void mesh_stats::prune(
    const std::function<bool(const std::string&, const std::string*)>& live) {
  for (auto i = services_.begin(); i != services_.end();) {
    auto& [name, s] = *i;
    if (!live(name, nullptr) && s.figures.in_flight == 0) {
      i = services_.erase(i);
      continue;
    }
    for (auto j = s.instances.begin(); j != s.instances.end();)
      j = live(name, &j->first) ? std::next(j) : s.instances.erase(j);
    ++i;
  }
}

void mesh_stats::collect(int64_t now, int64_t window,
                         mesh_figures& into) const {
  for (auto& [name, s] : services_) {
    auto& out = into[name];
    out.merge(s.figures);
    if (window > 0) out.window.merge(s.ring.sum(now, window));
    for (auto& [id, e] : s.instances) {
      auto& x = out.instances[id];
      x.merge(e.figures);
      if (window > 0) x.window.merge(e.ring.sum(now, window));
    }
  }
}

std::string escape_label_value(std::string_view x) {
  std::string out;
  out.reserve(x.size());
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

namespace {

/// A service's label set, escaped, and each instance's.
struct labels {
  std::string service;
  std::map<std::string_view, std::string> instances;
};

}  // namespace

void write_mesh_metrics(std::string& out, const mesh_figures& figures,
                        const mesh_gauges& gauges, uint64_t connections_open) {
  text_writer w{out};
  std::map<std::string_view, labels> ls;
  for (auto& [name, s] : figures) {
    auto& l = ls[name];
    l.service = "service=\"" + escape_label_value(name) + "\"";
    for (auto& [id, _] : s.instances)
      l.instances[id] =
          l.service + ",instance=\"" + escape_label_value(id) + "\"";
  }
  auto codes = [&](const std::string& name, std::string_view base,
                   const auto& results) {
    for (size_t i = 0; i < mesh_outcome_count; ++i) {
      if (results[i] == 0) continue;
      std::string l{base};
      l.append(",code=\"")
          .append(to_label(static_cast<mesh_outcome>(i)))
          .append(1, '"');
      w.sample(name, l, results[i]);
    }
  };
  // Per service.
  std::string n = "valmesh_mesh_requests_total";
  w.family(n, "counter", "Calls through the mesh, by service and result");
  for (auto& [name, s] : figures) codes(n, ls[name].service, s.results);
  struct counter_def {
    const char* name;
    const char* help;
    uint64_t service_figures::*field;
  };
  static const counter_def counters[] = {
      {"valmesh_mesh_attempts_total", "Upstream attempts of mesh calls",
       &service_figures::attempts},
      {"valmesh_mesh_retries_total", "Attempts after the first",
       &service_figures::retries},
      {"valmesh_mesh_retries_refused_total", "Retries the retry budget refused",
       &service_figures::retries_refused},
      {"valmesh_mesh_try_timeouts_total",
       "Attempts that passed their per-try timeout",
       &service_figures::try_timeouts},
      {"valmesh_mesh_bulkhead_rejections_total",
       "Attempts the bulkhead rejected (no permit, or none in time)",
       &service_figures::bulkhead_rejections},
  };
  for (auto& c : counters) {
    w.family(c.name, "counter", c.help);
    for (auto& [name, s] : figures)
      w.sample(c.name, ls[name].service, s.*c.field);
  }
  n = "valmesh_mesh_requests_in_flight";
  w.family(n, "gauge", "Mesh calls in progress, by service");
  for (auto& [name, s] : figures)
    w.sample(n, ls[name].service, static_cast<double>(s.in_flight));
  n = "valmesh_mesh_request_duration_seconds";
  w.family(n, "histogram", "Duration of whole mesh calls, retries included");
  for (auto& [name, s] : figures) w.histogram(n, ls[name].service, s.latency);
  n = "valmesh_mesh_attempt_duration_seconds";
  w.family(n, "histogram", "Duration of each upstream attempt");
  for (auto& [name, s] : figures)
    w.histogram(n, ls[name].service, s.attempt_latency);
  n = "valmesh_mesh_bulkhead_queued";
  w.family(n, "gauge", "Calls waiting for a bulkhead permit, by service");
  for (auto& s : gauges.services)
    w.sample(n, "service=\"" + escape_label_value(s.name) + "\"",
             static_cast<double>(s.queued));
  // Per instance.
  n = "valmesh_mesh_instance_requests_total";
  w.family(n, "counter", "Upstream attempts by instance and result");
  for (auto& [name, s] : figures)
    for (auto& [id, x] : s.instances)
      codes(n, ls[name].instances[id], x.results);
  n = "valmesh_mesh_instance_try_timeouts_total";
  w.family(n, "counter", "Attempts at an instance past the per-try timeout");
  for (auto& [name, s] : figures)
    for (auto& [id, x] : s.instances)
      w.sample(n, ls[name].instances[id], x.try_timeouts);
  n = "valmesh_mesh_instance_request_duration_seconds";
  w.family(n, "histogram", "Duration of upstream attempts, by instance");
  for (auto& [name, s] : figures)
    for (auto& [id, x] : s.instances)
      w.histogram(n, ls[name].instances[id], x.attempt_latency);
  n = "valmesh_mesh_upstream_connections_opened_total";
  w.family(n, "counter", "Upstream connections opened, by instance");
  for (auto& [name, s] : figures)
    for (auto& [id, x] : s.instances)
      w.sample(n, ls[name].instances[id], x.connections_opened);
  n = "valmesh_mesh_upstream_connections_reused_total";
  w.family(n, "counter",
           "Attempts sent on a pooled keep-alive connection, by instance");
  for (auto& [name, s] : figures)
    for (auto& [id, x] : s.instances)
      w.sample(n, ls[name].instances[id], x.connections_reused);
  n = "valmesh_mesh_upstream_connections_open";
  w.family(n, "gauge",
           "Upstream connections of the mesh: pooled idle ones and those "
           "carrying an attempt");
  w.sample(n, {}, connections_open);
  n = "valmesh_mesh_instance_in_flight";
  w.family(n, "gauge", "Calls in progress at an instance");
  for (auto& s : gauges.services) {
    auto base = "service=\"" + escape_label_value(s.name) + "\",instance=\"";
    for (auto& x : s.instances)
      w.sample(n, base + escape_label_value(x.id) + "\"",
               static_cast<double>(x.in_flight));
  }
  n = "valmesh_mesh_breaker_state";
  w.family(n, "gauge",
           "Circuit breaker state of an instance: 1 for its current state");
  for (auto& s : gauges.services) {
    auto base = "service=\"" + escape_label_value(s.name) + "\",instance=\"";
    for (auto& x : s.instances) {
      auto l = base + escape_label_value(x.id) + "\",state=\"";
      for (const char* st : {"closed", "open", "half_open"})
        w.sample(n, l + st + "\"", x.breaker == st ? 1.0 : 0.0);
    }
  }
}

}  // namespace valmesh
