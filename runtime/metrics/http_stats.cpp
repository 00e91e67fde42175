#include "runtime/metrics/http_stats.hpp"

#include <algorithm>
#include <array>

#include "runtime/metrics/mesh_stats.hpp"
#include "runtime/metrics/text_writer.hpp"

namespace valmesh {

void http_route_figures::count(unsigned status, double seconds) {
  auto code = static_cast<uint16_t>(status);
  auto i = std::find_if(codes.begin(), codes.end(),
                        [code](auto& c) { return c.first == code; });
  if (i == codes.end())
    codes.emplace_back(code, 1);
  else
    ++i->second;
  latency.observe(seconds);
}

void http_route_figures::merge(const http_route_figures& o) {
  for (auto& [code, n] : o.codes) {
    auto i = std::find_if(codes.begin(), codes.end(),
                          [code = code](auto& c) { return c.first == code; });
    if (i == codes.end())
      codes.emplace_back(code, n);
    else
      i->second += n;
  }
  latency.merge(o.latency);
}

void http_figures::merge(const http_figures& o) {
  if (routes.size() < o.routes.size()) routes.resize(o.routes.size());
  for (size_t i = 0; i < o.routes.size(); ++i) routes[i].merge(o.routes[i]);
  accepted += o.accepted;
  refused += o.refused;
  opened += o.opened;
  closed += o.closed;
  streams_opened += o.streams_opened;
  streams_closed += o.streams_closed;
  events_dropped += o.events_dropped;
}

void write_http_metrics(std::string& out, const http_figures& f,
                        const std::vector<std::string>& routes) {
  text_writer w{out};
  // Routes sharing a pattern (one per method) show as one series.
  auto name_of = [&](size_t slot) -> std::string {
    if (slot == 0 || slot - 1 >= routes.size()) return "none";
    return routes[slot - 1];
  };
  std::vector<std::pair<std::string, http_route_figures>> by_route;
  for (size_t slot = 0; slot < f.routes.size(); ++slot) {
    auto& r = f.routes[slot];
    if (r.codes.empty()) continue;
    auto name = name_of(slot);
    auto i = std::find_if(by_route.begin(), by_route.end(),
                          [&](auto& x) { return x.first == name; });
    if (i == by_route.end())
      by_route.emplace_back(std::move(name), r);
    else
      i->second.merge(r);
  }
  std::sort(by_route.begin(), by_route.end(),
            [](auto& a, auto& b) { return a.first < b.first; });
  std::string n = "valmesh_http_requests_total";
  w.family(n, "counter",
           "Requests answered by the HTTP front end, by route pattern and "
           "status code");
  std::array<uint64_t, 6> by_class{};
  for (auto& [route, r] : by_route) {
    auto codes = r.codes;
    std::sort(codes.begin(), codes.end());
    auto base = "route=\"" + escape_label_value(route) + "\",code=\"";
    for (auto& [code, count] : codes) {
      w.sample(n, base + std::to_string(code) + "\"", count);
      by_class[code >= 100 && code < 600 ? code / 100 - 1 : 5] += count;
    }
  }
  n = "valmesh_http_request_duration_seconds";
  w.family(n, "histogram",
           "Time from a request read to its answer handed to the socket, by "
           "route pattern");
  for (auto& [route, r] : by_route)
    w.histogram(n, "route=\"" + escape_label_value(route) + "\"", r.latency);
  n = "valmesh_http_responses_total";
  w.family(n, "counter",
           "Answers of the HTTP front end by status class, refused "
           "connections included");
  by_class[4] += f.refused;
  static constexpr const char* classes[] = {"1xx", "2xx", "3xx",
                                            "4xx", "5xx", "other"};
  for (size_t i = 0; i < by_class.size(); ++i)
    w.sample(n, std::string{"code=\""} + classes[i] + "\"", by_class[i]);
  w.single("valmesh_http_connections_open", "gauge",
           "Client connections open (event streams included)",
           f.connections_open());
  w.single("valmesh_http_connections_accepted_total", "counter",
           "Client connections accepted and served (refused ones apart)",
           f.accepted);
  w.single("valmesh_http_connections_refused_total", "counter",
           "Client connections refused with 503 past max_connections",
           f.refused);
  w.single("valmesh_events_subscribers", "gauge",
           "Event streams (GET /api/events) open", f.streams_open());
  w.single("valmesh_events_dropped_total", "counter",
           "Events dropped from a slow subscriber's full queue",
           f.events_dropped);
}

}  // namespace valmesh
