// Embeds a valmesh node and traces the program's own work with the C++
// tracing API, the way the original system called `startSpan(name, {tags})`,
// `span.finish('success' | 'error', error)` and `injectContext(span,
// headers)`. The spans land in the node's buffer next to the gateway's; the
// example reads them back over HTTP (`GET /api/tracing/spans`) as
// `valmesh spans --trace ID` would.
//
//   ./build/examples/tracing_example
//
// It listens on ephemeral loopback ports and exits 0 when every step worked.

#include <iostream>

#include <nlohmann/json.hpp>

#include "http/registry_client.hpp"
#include "runtime/common/logging.hpp"
#include "node/node.hpp"

using namespace valmesh;

int main() {
  setup_logging("warn", "text");
  auto cfg = default_config();
  cfg.http = {"127.0.0.1", 0};
  cfg.cluster = {"127.0.0.1", 0};
  cfg.dev = true;
  cfg.tracing.sampler = "always";
  node n{cfg};
  if (auto err = n.start()) {
    std::cerr << "cannot start the node: " << err->message << "\n";
    return 1;
  }
  auto& tracer = n.tracer();
  std::string trace;
  {
    // const span = startSpan('checkout', { user: 'ann' })
    // A scoped span is the current one of this thread: spans started in its
    // scope (and node::call_service calls) are its children.
    scoped_span checkout{tracer.start_span(
        "checkout", {{"user", std::string{"ann"}}, {"items", int64_t{3}}})};
    trace = checkout->context().trace.to_hex();

    // A child that fails: span.finish('error', error)
    auto pay = tracer.start_span("charge card", {{"amount", 19.5}});
    pay.add_event("card declined");
    pay.finish("error", "insufficient funds");

    // injectContext(span, headers): what an outgoing request would carry.
    header_list headers{{"Accept", "application/json"}};
    tracer::inject(checkout.get(), headers);
    for (auto& [k, v] : headers) std::cout << k << ": " << v << "\n";

    // A mesh call inside the scope is traced too (here it fails: there is
    // no such service, and its span says why).
    auto r = n.call_service("inventory");
    if (r) {
      std::cerr << "unexpected: the call to 'inventory' succeeded\n";
      return 1;
    }
    checkout->finish("success");
  }

  // Read the trace back over HTTP. Spans reach the buffer asynchronously;
  // poll briefly for all four.
  registry_client client{{"127.0.0.1", n.http_port()}};
  nlohmann::json spans;
  for (int i = 0; i < 200; ++i) {
    auto res = client.raw("GET", "/api/tracing/spans?traceId=" + trace);
    if (!res || res->status != 200) {
      std::cerr << "cannot read the spans\n";
      return 1;
    }
    spans = nlohmann::json::parse(res->body)["spans"];
    if (spans.size() >= 3) break;
  }
  std::cout << "trace " << trace << ":\n";
  for (auto& s : spans)
    std::cout << "  " << s["name"].get<std::string>() << " ["
              << s["kind"].get<std::string>() << "] "
              << s["status"]["code"].get<std::string>() << " "
              << s["status"]["message"].get<std::string>() << "\n";
  n.stop();
  return spans.size() >= 3 ? 0 : 1;
}
