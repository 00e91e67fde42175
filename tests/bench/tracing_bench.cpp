// Tracing costs on the hot path, each beside a peer measured in the same
// run (the ratio is printed at the end):
//   sampled span start + end      vs a pair of steady_clock::now()
//   ... with the gateway's attributes (what a proxied attempt records)
//   unsampled span start + end    vs an empty (not inlined) function call
//   traceparent parse             vs std::from_chars of the same hex fields
//   traceparent format            vs std::to_chars of the same three numbers
// Spans go to a sink that keeps them in a vector cleared every 256, as the
// node's per-loop batcher does before its one message to the tracer actor.

#include <charconv>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "runtime/tracing/tracer.hpp"

using namespace valmesh;

namespace {

struct batch_sink final : span_sink {
  std::vector<packed_span> spans;
  batch_sink() { spans.reserve(256); }
  void submit(packed_span&& s) override {
    spans.push_back(std::move(s));
    if (spans.size() == 256) spans.clear();
  }
};

std::shared_ptr<const valmesh::clock> real_clock() {
  static auto c = std::make_shared<system_clock_source>();
  return c;
}

const span_context parent_ctx = *parse_traceparent(
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");

[[gnu::noinline]] void empty_function(int* x) {
  benchmark::DoNotOptimize(x);
}

void empty_call(benchmark::State& state) {
  int x = 0;
  for (auto _ : state) empty_function(&x);
}
BENCHMARK(empty_call);

void steady_clock_pair(benchmark::State& state) {
  for (auto _ : state) {
    auto a = std::chrono::steady_clock::now();
    auto b = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(a);
    benchmark::DoNotOptimize(b);
  }
}
BENCHMARK(steady_clock_pair);

void span_sampled(benchmark::State& state) {
  tracer t{sampler::always(), real_clock(), std::make_shared<batch_sink>()};
  for (auto _ : state) {
    auto s = t.start_span("GET orders", span_kind::client, &parent_ctx);
    benchmark::DoNotOptimize(s.context());
    s.end();
  }
}
BENCHMARK(span_sampled);

void span_sampled_gateway_attributes(benchmark::State& state) {
  tracer t{sampler::always(), real_clock(), std::make_shared<batch_sink>()};
  std::string instance = "orders-1a2b",
              corr = "abaffb00954689d6f0df0077b97be42c";
  for (auto _ : state) {
    auto s = t.start_span("GET orders", span_kind::client, &parent_ctx);
    s.reserve_attributes(12);  // as http/mesh.cpp does
    s.set_attribute(known_attribute::http_request_method, "GET");
    s.set_attribute(known_attribute::server_address, "127.0.0.1");
    s.set_attribute(known_attribute::server_port, 6000);
    s.set_attribute(known_attribute::url_path, "/api/x");
    s.set_attribute(known_attribute::valmesh_service, "orders");
    s.set_attribute(known_attribute::valmesh_instance, instance);
    s.set_attribute(known_attribute::valmesh_attempt, 1);
    s.set_attribute(known_attribute::valmesh_breaker_state, "closed");
    s.set_attribute(known_attribute::valmesh_correlation_id, corr);
    s.set_attribute(known_attribute::http_response_status_code, 200);
    s.set_status(status_code::ok);
    s.end();
  }
}
BENCHMARK(span_sampled_gateway_attributes);

void span_unsampled(benchmark::State& state) {
  tracer t{sampler::never(), real_clock(), std::make_shared<batch_sink>()};
  for (auto _ : state) {
    auto s = t.start_span("GET orders", span_kind::client, &parent_ctx);
    benchmark::DoNotOptimize(s.context());
    s.end();
  }
}
BENCHMARK(span_unsampled);

const std::string header =
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

void traceparent_parse(benchmark::State& state) {
  for (auto _ : state) {
    auto ctx = parse_traceparent(header);
    benchmark::DoNotOptimize(ctx);
  }
}
BENCHMARK(traceparent_parse);

void from_chars_hex(benchmark::State& state) {
  const char* p = header.data();
  for (auto _ : state) {
    uint64_t hi = 0, lo = 0, span = 0;
    unsigned flags = 0;
    std::from_chars(p + 3, p + 19, hi, 16);
    std::from_chars(p + 19, p + 35, lo, 16);
    std::from_chars(p + 36, p + 52, span, 16);
    std::from_chars(p + 53, p + 55, flags, 16);
    benchmark::DoNotOptimize(hi);
    benchmark::DoNotOptimize(lo);
    benchmark::DoNotOptimize(span);
    benchmark::DoNotOptimize(flags);
  }
}
BENCHMARK(from_chars_hex);

void traceparent_format(benchmark::State& state) {
  std::array<char, traceparent_size> out;
  for (auto _ : state) {
    format_traceparent(parent_ctx, out);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(traceparent_format);

void to_chars_hex(benchmark::State& state) {
  char out[64];
  auto& c = parent_ctx;
  for (auto _ : state) {
    std::to_chars(out, out + 16, c.trace.hi, 16);
    std::to_chars(out + 16, out + 32, c.trace.lo, 16);
    std::to_chars(out + 32, out + 48, c.span.value, 16);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(to_chars_hex);

/// The console output, then each figure against its peer of the same run.
class ratio_reporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (auto& r : runs)
      if (r.run_type == Run::RT_Iteration)
        ns_[r.benchmark_name()] = r.GetAdjustedCPUTime();
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    struct row {
      const char* name;
      const char* peer;
      double aim_ns;  ///< 0: no aim
    };
    const row rows[] = {
        {"span_sampled", "steady_clock_pair", 300},
        {"span_sampled_gateway_attributes", "steady_clock_pair", 0},
        {"span_unsampled", "empty_call", 20},
        {"traceparent_parse", "from_chars_hex", 0},
        {"traceparent_format", "to_chars_hex", 0},
    };
    std::printf("\n%-34s %10s  %-20s %10s %8s  %s\n", "figure", "ns", "peer",
                "peer ns", "ratio", "aim");
    for (auto& r : rows) {
      if (!ns_.count(r.name) || !ns_.count(r.peer)) continue;
      double a = ns_[r.name], b = ns_[r.peer];
      char aim[48] = "-";
      if (r.aim_ns > 0)
        std::snprintf(aim, sizeof(aim), "< %.0f ns: %s", r.aim_ns,
                      a < r.aim_ns ? "met" : "MISSED");
      std::printf("%-34s %10.1f  %-20s %10.1f %7.2fx  %s\n", r.name, a, r.peer,
                  b, b > 0 ? a / b : 0.0, aim);
    }
  }

 private:
  std::map<std::string, double> ns_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  ratio_reporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
