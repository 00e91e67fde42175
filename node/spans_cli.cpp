#include "node/spans_cli.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>

#include <nlohmann/json.hpp>

#include "http/registry_client.hpp"
#include "node/cli.hpp"
#include "runtime/tracing/trace_context.hpp"

namespace valmesh {

namespace {

using json = nlohmann::json;

std::string duration_text(const json& s) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3fms", s.value("durationMs", 0.0));
  return buf;
}

std::string service_of(const json& s) {
  auto& a = s["attributes"];
  if (a.is_object() && a.contains("valmesh.service") &&
      a["valmesh.service"].is_string())
    return a["valmesh.service"].get<std::string>();
  return "-";
}

std::string status_of(const json& s) {
  auto code = s["status"].value("code", "unset");
  auto msg = s["status"].value("message", "");
  return msg.empty() ? code : code + ": " + msg;
}

void print_table(const json& spans) {
  std::vector<std::vector<std::string>> rows{
      {"TRACE", "SPAN", "NAME", "KIND", "SERVICE", "STATUS", "DURATION"}};
  for (auto& s : spans)
    rows.push_back({s.value("traceId", ""), s.value("spanId", ""),
                    s.value("name", ""), s.value("kind", ""), service_of(s),
                    s["status"].value("code", "unset"), duration_text(s)});
  valmesh::print_table(rows);
}

/// Prints one trace as a tree: each span under its parent, children in
/// start order; spans whose parent is not in the set are roots.
void print_tree(const std::string& trace, const json& spans) {
  std::map<std::string, const json*> by_id;
  for (auto& s : spans) by_id[s.value("spanId", "")] = &s;
  std::map<std::string, std::vector<const json*>> children;
  std::vector<const json*> roots;
  for (auto& s : spans) {
    auto p = s["parentSpanId"];
    if (p.is_string() && by_id.count(p.get<std::string>()))
      children[p.get<std::string>()].push_back(&s);
    else
      roots.push_back(&s);
  }
  auto by_start = [](const json* a, const json* b) {
    return (*a).value("startTimeUnixNano", int64_t{0}) <
           (*b).value("startTimeUnixNano", int64_t{0});
  };
  std::sort(roots.begin(), roots.end(), by_start);
  for (auto& [_, xs] : children) std::sort(xs.begin(), xs.end(), by_start);
  std::cout << "trace " << trace << " (" << spans.size() << " spans)\n";
  auto print = [&](auto& self, const json* s, int depth) -> void {
    std::cout << std::string(static_cast<size_t>(depth) * 2 + 2, ' ')
              << s->value("name", "") << " [" << s->value("kind", "") << "] "
              << service_of(*s) << " " << duration_text(*s) << " "
              << status_of(*s) << " span=" << s->value("spanId", "") << "\n";
    auto i = children.find(s->value("spanId", ""));
    if (i != children.end())
      for (auto* c : i->second) self(self, c, depth + 1);
  };
  for (auto* r : roots) print(print, r, 0);
}

}  // namespace

void add_spans_command(CLI::App& app, spans_command& c) {
  c.cmd = app.add_subcommand("spans", "recent finished spans, or one trace");
  c.cmd->add_option("--limit", c.limit, "at most N spans, newest first (100)");
  c.cmd->add_option("--trace", c.trace, "one trace as a tree (32 hex digits)");
  c.cmd->add_option("--service", c.service, "only spans of this service");
  c.cmd->add_option("--addr", c.addr,
                    "agent address (env VALMESH_HTTP_ADDR, default "
                    "http://127.0.0.1:8700)");
  c.cmd->add_option("--token", c.token, "bearer token (env VALMESH_TOKEN)");
  c.cmd->add_flag("--json", c.json, "print the raw JSON");
}

int run_spans_command(const spans_command& c) {
  auto usage = [](const std::string& m) {
    std::cerr << "valmesh: " << m << "\n";
    return exit_code::usage;
  };
  if (c.limit < 1 || c.limit > 100'000)
    return usage("--limit must be from 1 to 100000");
  std::string trace;
  if (!c.trace.empty()) {
    auto id = trace_id::from_hex(c.trace, false);
    if (!id) return usage("--trace takes a trace id: 32 hex digits, not all 0");
    trace = id->to_hex();
  }
  std::string addr = c.addr;
  if (addr.empty()) {
    auto env = std::getenv("VALMESH_HTTP_ADDR");
    addr = env != nullptr && *env != '\0' ? env : "http://127.0.0.1:8700";
  }
  std::string token = c.token;
  if (token.empty())
    if (auto env = std::getenv("VALMESH_TOKEN")) token = env;
  auto ep = web::parse_http_addr(addr);
  if (!ep) return usage(ep.error().message);
  std::string target = "/api/tracing/spans?limit=";
  // A whole trace is asked with a generous limit: the tree needs every span.
  target += std::to_string(trace.empty() ? c.limit : 100'000);
  if (!trace.empty()) target += "&traceId=" + trace;
  if (!c.service.empty())
    target += "&service=" + web::encode_path_segment(c.service);
  registry_client client{*ep, token};
  auto res = client.raw("GET", target);
  if (!res) {
    std::cerr << "valmesh: " << res.error().message << "\n";
    return exit_code::unreachable;
  }
  if (res->status != 200) {
    if (c.json) std::cout << res->body << "\n";
    auto fail = failure_from_response(*res);
    std::cerr << "valmesh: " << fail.message << " (" << to_string(fail.code)
              << ", HTTP " << res->status << ")\n";
    return exit_code::agent_error;
  }
  auto j = json::parse(res->body, nullptr, false);
  if (j.is_discarded() || !j["spans"].is_array()) {
    std::cerr << "valmesh: the agent's answer is not a span list\n";
    return exit_code::agent_error;
  }
  if (c.json) {
    std::cout << j.dump(2) << "\n";
    return exit_code::ok;
  }
  if (trace.empty()) {
    print_table(j["spans"]);
    return exit_code::ok;
  }
  if (j["spans"].empty()) {
    std::cerr << "valmesh: no spans of trace " << trace << " in the buffer\n";
    return exit_code::agent_error;
  }
  print_tree(trace, j["spans"]);
  return exit_code::ok;
}

}  // namespace valmesh
