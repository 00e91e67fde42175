// The mesh metrics' costs, in process:
//   counting one call and its attempt on a loop (the hot path's share)
//   rendering the mesh's part of GET /metrics for S services × I instances
//   (default 1,000 × 10) whose counts sit on 2 event loops: each loop's
//   copy, the merge, and the text
//   summing a 1-minute window of every service (GET /api/stats)

#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "runtime/metrics/mesh_stats.hpp"

using namespace valmesh;

namespace {

constexpr int loops = 2;

/// `loops` stores with `services` × `instances`, each instance called in
/// each of the last 60 seconds.
std::vector<mesh_stats> populate(int services, int instances) {
  std::vector<mesh_stats> xs(loops);
  for (int l = 0; l < loops; ++l)
    for (int s = 0; s < services; ++s) {
      auto& e = xs[l].service("service-" + std::to_string(s));
      for (int i = 0; i < instances; ++i) {
        auto id = "service-" + std::to_string(s) + "-" + std::to_string(i);
        for (int sec = 0; sec < 60; ++sec) {
          auto r = sec % 10 == 0 ? mesh_outcome::status_5xx
                                 : mesh_outcome::status_2xx;
          double lat = 0.0002 * (1 + (sec + i) % 20);
          mesh_stats::attempt_finished(e, id, 1000 + sec, r, lat, sec > 0, true,
                                       false);
          mesh_stats::call_finished(e, 1000 + sec, r, 1, lat);
        }
      }
    }
  return xs;
}

mesh_gauges gauges_of(int services, int instances) {
  mesh_gauges g;
  for (int s = 0; s < services; ++s) {
    mesh_gauges::service x;
    x.name = "service-" + std::to_string(s);
    for (int i = 0; i < instances; ++i)
      x.instances.push_back({x.name + "-" + std::to_string(i), "closed", 0});
    g.services.push_back(std::move(x));
  }
  return g;
}

void count_one_call(benchmark::State& st) {
  mesh_stats m;
  auto& s = m.service("orders");
  const std::string id = "orders-1";
  int64_t second = 1000;
  uint64_t n = 0;
  for (auto _ : st) {
    if ((++n & 0xffff) == 0) ++second;  // ~65k calls a second
    mesh_stats::attempt_finished(s, id, second, mesh_outcome::status_2xx,
                                 0.0004, true, true, false);
    mesh_stats::call_finished(s, second, mesh_outcome::status_2xx, 1, 0.0005);
  }
  benchmark::DoNotOptimize(m.size());
}
BENCHMARK(count_one_call);

void render_metrics(benchmark::State& st) {
  auto services = static_cast<int>(st.range(0));
  auto instances = static_cast<int>(st.range(1));
  auto xs = populate(services, instances);
  auto g = gauges_of(services, instances);
  size_t bytes = 0;
  for (auto _ : st) {
    mesh_figures f;
    for (auto& x : xs) x.collect(1059, 0, f);
    std::string text;
    write_mesh_metrics(text, f, g, 64);
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  st.counters["bytes"] = static_cast<double>(bytes);
  st.counters["series"] = static_cast<double>(services) * instances;
}
BENCHMARK(render_metrics)
    ->Args({100, 10})
    ->Args({1000, 10})
    ->Unit(benchmark::kMillisecond);

void window_stats(benchmark::State& st) {
  auto services = static_cast<int>(st.range(0));
  auto instances = static_cast<int>(st.range(1));
  auto xs = populate(services, instances);
  for (auto _ : st) {
    mesh_figures f;
    for (auto& x : xs) x.collect(1059, 60, f);
    benchmark::DoNotOptimize(f.size());
  }
}
BENCHMARK(window_stats)->Args({1000, 10})->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
