#include "runtime/consul/consul.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <limits>
#include <map>
#include <set>

namespace valmesh::consul {

using namespace std::chrono;

namespace {

failure invalid(std::string message) {
  return failure{errc::invalid_argument, std::move(message)};
}

// Reserved metadata keys (see `reserved_prefix`).
constexpr const char* key_ttl_id = "consul-ttl-check-id";
constexpr const char* key_ttl_name = "consul-ttl-check-name";
constexpr const char* key_http_id = "consul-http-check-id";
constexpr const char* key_http_name = "consul-http-check-name";
constexpr const char* key_http_url = "consul-http-check-url";
constexpr const char* key_interval = "consul-http-check-interval";
constexpr const char* key_timeout = "consul-http-check-timeout";
constexpr const char* key_deregister = "consul-deregister-after";

bool reserved(std::string_view key) {
  return key.substr(0, reserved_prefix.size()) == reserved_prefix;
}

std::string meta_or(const service_instance& x, const char* key,
                    std::string fallback) {
  auto i = x.metadata.find(key);
  return i == x.metadata.end() ? std::move(fallback) : i->second;
}

/// A JSON object with its keys folded: fold_key(key) -> value.
expected<std::map<std::string, const json*>> folded(const json& j,
                                                    const char* what) {
  if (!j.is_object())
    return invalid(std::string{"Request decode failed: "} + what +
                   " must be a JSON object");
  std::map<std::string, const json*> out;
  for (auto& [k, v] : j.items()) out[fold_key(k)] = &v;
  return out;
}

const json* field(const std::map<std::string, const json*>& m,
                  const char* folded_key) {
  auto i = m.find(folded_key);
  return i == m.end() || i->second->is_null() ? nullptr : i->second;
}

std::optional<failure> read_string(const std::map<std::string, const json*>& m,
                                   const char* key, const char* shown,
                                   std::string& out) {
  auto v = field(m, key);
  if (!v) return std::nullopt;
  if (!v->is_string())
    return invalid(std::string{"Request decode failed: "} + shown +
                   " must be a string");
  out = v->get<std::string>();
  return std::nullopt;
}

/// A duration field: a Go duration string, or a number of nanoseconds.
std::optional<failure> read_duration(
    const std::map<std::string, const json*>& m, const char* key,
    const char* shown, milliseconds& out) {
  auto v = field(m, key);
  if (!v) return std::nullopt;
  if (v->is_number()) {
    auto ns = v->get<double>();
    if (ns < 0) return invalid(std::string{"Invalid "} + shown + ": negative");
    out = milliseconds{static_cast<int64_t>(ns / 1e6)};
    return std::nullopt;
  }
  if (!v->is_string())
    return invalid(std::string{"Request decode failed: "} + shown +
                   " must be a duration like \"10s\"");
  auto d = parse_go_duration(v->get_ref<const std::string&>());
  if (!d)
    return invalid(std::string{"Request decode failed: "} + shown +
                   ": invalid duration \"" + v->get<std::string>() + "\"");
  out = *d;
  return std::nullopt;
}

// The fields of Consul's service and check definitions that valmesh reads,
// accepts without effect, or refuses (folded keys).
const std::set<std::string> service_fields = {"id",
                                              "name",
                                              "tags",
                                              "address",
                                              "port",
                                              "meta",
                                              "weights",
                                              "check",
                                              "checks",
                                              "kind",
                                              "enabletagoverride",
                                              "taggedaddresses",
                                              "namespace",
                                              "partition",
                                              "socketpath",
                                              "connect",
                                              "proxy",
                                              "locality",
                                              "token"};
const std::set<std::string> check_fields = {"checkid",
                                            "id",
                                            "name",
                                            "http",
                                            "interval",
                                            "timeout",
                                            "ttl",
                                            "deregistercriticalserviceafter",
                                            "status",
                                            "notes",
                                            "method",
                                            "header",
                                            "tlsskipverify",
                                            "tlsservername",
                                            "body",
                                            "successbeforepassing",
                                            "failuresbeforewarning",
                                            "failuresbeforecritical",
                                            "tcp",
                                            "grpc",
                                            "grpcusetls",
                                            "args",
                                            "scriptargs",
                                            "dockercontainerid",
                                            "shell",
                                            "aliasnode",
                                            "aliasservice",
                                            "h2ping",
                                            "udp",
                                            "osservice",
                                            "serviceid",
                                            "outputmaxsize",
                                            "type"};

expected<check_definition> parse_check(const json& j) {
  auto m = folded(j, "a check");
  if (!m) return m.error();
  for (auto& [k, _] : *m)
    if (!check_fields.count(k))
      return invalid("Request decode failed: unknown check field \"" + k +
                     "\"");
  for (auto* k : {"tcp", "grpc", "args", "scriptargs", "dockercontainerid",
                  "aliasnode", "aliasservice", "h2ping", "udp", "osservice"})
    if (field(*m, k))
      return invalid(std::string{"Invalid check: valmesh supports HTTP and "
                                 "TTL checks, not "} +
                     k);
  check_definition c;
  if (auto e = read_string(*m, "checkid", "CheckID", c.id)) return *e;
  if (c.id.empty())
    if (auto e = read_string(*m, "id", "ID", c.id)) return *e;
  if (auto e = read_string(*m, "name", "Name", c.name)) return *e;
  if (auto e = read_string(*m, "http", "HTTP", c.http)) return *e;
  if (auto e = read_string(*m, "notes", "Notes", c.notes)) return *e;
  if (auto e = read_duration(*m, "interval", "Interval", c.interval)) return *e;
  if (auto e = read_duration(*m, "timeout", "Timeout", c.timeout)) return *e;
  if (auto e = read_duration(*m, "ttl", "TTL", c.ttl)) return *e;
  if (auto e =
          read_duration(*m, "deregistercriticalserviceafter",
                        "DeregisterCriticalServiceAfter", c.deregister_after))
    return *e;
  std::string status;
  if (auto e = read_string(*m, "status", "Status", status)) return *e;
  if (!status.empty()) {
    if (status != "passing" && status != "warning" && status != "critical")
      return invalid("Invalid check status: \"" + status + "\"");
    c.status = parse_health_status(status);
  }
  std::string method;
  if (auto e = read_string(*m, "method", "Method", method)) return *e;
  if (!method.empty() && method != "GET")
    return invalid("Invalid check: valmesh's HTTP checks use GET, not " +
                   method);
  if (c.http.empty() && c.ttl.count() == 0)
    return invalid(
        "Invalid check: must be one of HTTP (with Interval) or TTL; valmesh "
        "supports no other kind");
  if (!c.http.empty() && c.ttl.count() > 0)
    return invalid("Invalid check: HTTP and TTL in one check");
  if (!c.http.empty() && c.interval.count() <= 0)
    return invalid("Interval must be > 0 for Script, HTTP, or TCP checks");
  if (c.ttl.count() > 0 &&
      (c.ttl.count() < 1000 || c.ttl.count() > limits::max_ttl_ms))
    return invalid("Invalid check: valmesh takes a TTL between 1s and 24h");
  return c;
}

/// The path (and query) of an `http://host:port/path` URL.
expected<std::string> http_path(const std::string& url) {
  constexpr std::string_view scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0)
    return invalid(
        "Invalid check: valmesh's HTTP checks take an http:// URL, "
        "not \"" +
        url + "\"");
  auto slash = url.find('/', scheme.size());
  if (slash == std::string::npos) return std::string{"/"};
  auto path = url.substr(slash);
  if (auto hash = path.find('#'); hash != std::string::npos) path.resize(hash);
  if (path.size() > limits::max_path_length)
    return invalid("Invalid check: the HTTP URL's path is too long");
  return path;
}

json definition_json(const service_instance& x, bool http) {
  auto d = [&](const char* key) {
    auto v = meta_or(x, key, "");
    return v.empty() ? std::string{"0s"} : v;
  };
  json j = {{"HTTP", ""},
            {"Header", nullptr},
            {"Method", ""},
            {"Body", ""},
            {"TLSServerName", ""},
            {"TLSSkipVerify", false},
            {"TCP", ""},
            {"TCPUseTLS", false},
            {"UDP", ""},
            {"GRPC", ""},
            {"OSService", ""},
            {"GRPCUseTLS", false},
            {"Interval", "0s"},
            {"Timeout", "0s"},
            {"DeregisterCriticalServiceAfter", d(key_deregister)}};
  if (http) {
    j["HTTP"] = meta_or(
        x, key_http_url,
        "http://" + x.host + ":" + std::to_string(x.port) + x.health_endpoint);
    j["Interval"] = d(key_interval);
    j["Timeout"] = d(key_timeout);
  }
  return j;
}

json visible_meta(const service_instance& x) {
  json j = json::object();
  for (auto& [k, v] : x.metadata)
    if (!reserved(k)) j[k] = v;
  return j;
}

json weights_json(const service_instance& x) {
  return {{"Passing", x.weight}, {"Warning", 1}};
}

json tagged_node_addresses(const node_info& node) {
  return {{"lan", node.address},
          {"lan_ipv4", node.address},
          {"wan", node.address},
          {"wan_ipv4", node.address}};
}

}  // namespace

// -- durations ----------------------------------------------------------------

std::optional<milliseconds> parse_go_duration(std::string_view text) {
  if (text == "0") return milliseconds{0};
  if (text.empty()) return std::nullopt;
  long double total_ns = 0;
  size_t i = 0;
  while (i < text.size()) {
    long double value = 0;
    size_t digits = 0;
    for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]));
         ++i, ++digits)
      value = value * 10 + (text[i] - '0');
    if (i < text.size() && text[i] == '.') {
      ++i;
      long double scale = 0.1L;
      for (;
           i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]));
           ++i, ++digits, scale /= 10)
        value += (text[i] - '0') * scale;
    }
    if (digits == 0) return std::nullopt;
    size_t u = i;
    while (u < text.size() &&
           !std::isdigit(static_cast<unsigned char>(text[u])) && text[u] != '.')
      ++u;
    auto unit = text.substr(i, u - i);
    i = u;
    long double ns = 0;
    if (unit == "ns")
      ns = 1;
    else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs")
      ns = 1e3L;
    else if (unit == "ms")
      ns = 1e6L;
    else if (unit == "s")
      ns = 1e9L;
    else if (unit == "m")
      ns = 60e9L;
    else if (unit == "h")
      ns = 3600e9L;
    else
      return std::nullopt;
    total_ns += value * ns;
    if (total_ns >
        static_cast<long double>(std::numeric_limits<int64_t>::max()))
      return std::nullopt;
  }
  return milliseconds{static_cast<int64_t>(total_ns / 1e6L)};
}

std::string format_go_duration(milliseconds d) {
  auto ms = d.count();
  if (ms == 0) return "0s";
  std::string sign = ms < 0 ? "-" : "";
  if (ms < 0) ms = -ms;
  if (ms < 1000) return sign + std::to_string(ms) + "ms";
  auto h = ms / 3'600'000;
  auto m = ms / 60'000 % 60;
  auto s = ms / 1000 % 60;
  auto frac = ms % 1000;
  std::string secs = std::to_string(s);
  if (frac != 0) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), ".%03lld", static_cast<long long>(frac));
    std::string f = buf;
    while (f.back() == '0') f.pop_back();
    secs += f;
  }
  secs += "s";
  if (h > 0)
    return sign + std::to_string(h) + "h" + std::to_string(m) + "m" + secs;
  if (m > 0) return sign + std::to_string(m) + "m" + secs;
  return sign + secs;
}

expected<blocking_query> parse_blocking_query(
    const std::optional<std::string>& index,
    const std::optional<std::string>& wait) {
  blocking_query q;
  if (wait && !wait->empty()) {
    auto d = parse_go_duration(*wait);
    if (!d) return invalid("Invalid wait time");
    q.wait = std::min(*d, max_wait);
  }
  if (index && !index->empty()) {
    uint64_t n = 0;
    for (char c : *index) {
      if (c < '0' || c > '9') return invalid("Invalid index");
      auto digit = static_cast<uint64_t>(c - '0');
      if (n > (std::numeric_limits<uint64_t>::max() - digit) / 10)
        return invalid("Invalid index");
      n = n * 10 + digit;
    }
    q.index = n;
  }
  return q;
}

milliseconds with_jitter(milliseconds wait, uint64_t random) {
  auto span = wait.count() / 16;
  if (span <= 0) return wait;
  return wait + milliseconds{static_cast<int64_t>(
                    random % static_cast<uint64_t>(span + 1))};
}

std::string fold_key(std::string_view key) {
  std::string out;
  out.reserve(key.size());
  for (char c : key)
    if (c != '_')
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// -- registration -------------------------------------------------------------

expected<registration> parse_registration(const json& body,
                                          const std::string& default_host) {
  auto m = folded(body, "the service definition");
  if (!m) return m.error();
  for (auto& [k, _] : *m)
    if (!service_fields.count(k))
      return invalid("Request decode failed: unknown field \"" + k + "\"");
  for (auto* k : {"connect", "proxy", "socketpath"})
    if (auto v = field(*m, k);
        v && !(v->is_object() && v->empty()) &&
        !(v->is_string() && v->get<std::string>().empty()))
      return invalid(std::string{"Invalid service: valmesh does not support "} +
                     k);
  registration r;
  auto& x = r.instance;
  x.health_endpoint.clear();
  std::string kind;
  if (auto e = read_string(*m, "kind", "Kind", kind)) return *e;
  if (!kind.empty())
    return invalid(
        "Invalid service: valmesh supports typical services, not "
        "Kind \"" +
        kind + "\"");
  if (auto e = read_string(*m, "name", "Name", x.name)) return *e;
  if (x.name.empty()) return invalid("Missing service name");
  if (auto e = read_string(*m, "id", "ID", x.id)) return *e;
  if (x.id.empty()) x.id = x.name;  // Consul's rule
  if (auto e = read_string(*m, "address", "Address", x.host)) return *e;
  if (x.host.empty()) x.host = default_host;
  if (auto v = field(*m, "port")) {
    if (!v->is_number_integer() || v->get<int64_t>() < 0 ||
        v->get<int64_t>() > 65535)
      return invalid("Request decode failed: Port must be a number 0..65535");
    x.port = static_cast<uint16_t>(v->get<int64_t>());
  }
  if (x.port == 0)
    return invalid("Invalid service: valmesh needs a Port between 1 and 65535");
  if (auto v = field(*m, "tags")) {
    if (!v->is_array())
      return invalid("Request decode failed: Tags must be a list of strings");
    for (auto& t : *v) {
      if (!t.is_string())
        return invalid("Request decode failed: Tags must be a list of strings");
      x.tags.push_back(t.get<std::string>());
    }
  }
  if (auto v = field(*m, "meta")) {
    if (!v->is_object())
      return invalid(
          "Request decode failed: Meta must be an object of strings");
    for (auto& [k, val] : v->items()) {
      if (!val.is_string())
        return invalid("Request decode failed: Meta values must be strings");
      if (reserved(k))
        return invalid(
            "Invalid Service Meta: Key prefix 'consul-' is "
            "reserved for internal use");
      x.metadata[k] = val.get<std::string>();
    }
  }
  if (auto v = field(*m, "weights")) {
    auto w = folded(*v, "Weights");
    if (!w) return w.error();
    if (auto p = field(*w, "passing")) {
      if (!p->is_number_integer() || p->get<int64_t>() < 1 ||
          p->get<int64_t>() > limits::max_weight)
        return invalid(
            "Invalid Weights: valmesh takes Passing between 1 and 1000");
      x.weight = static_cast<uint32_t>(p->get<int64_t>());
    }
  }
  // Check first, then Checks, as Consul merges them.
  std::vector<const json*> defs;
  if (auto v = field(*m, "check")) defs.push_back(v);
  if (auto v = field(*m, "checks")) {
    if (!v->is_array())
      return invalid("Request decode failed: Checks must be a list");
    for (auto& c : *v) defs.push_back(&c);
  }
  for (auto* d : defs) {
    auto c = parse_check(*d);
    if (!c) return c.error();
    r.checks.push_back(std::move(*c));
  }
  bool has_http = false, has_ttl = false;
  for (size_t i = 0; i < r.checks.size(); ++i) {
    auto& c = r.checks[i];
    if (c.id.empty()) {
      c.id = "service:" + x.id;
      if (r.checks.size() > 1) c.id += ":" + std::to_string(i + 1);
    }
    if (c.name.empty()) c.name = "Service '" + x.name + "' check";
    if (c.deregister_after.count() > 0)
      x.metadata[key_deregister] = format_go_duration(c.deregister_after);
    if (c.status) r.initial_status = c.status;
    if (!c.http.empty()) {
      if (has_http)
        return invalid(
            "Invalid service: valmesh keeps one HTTP check per service");
      has_http = true;
      auto path = http_path(c.http);
      if (!path) return path.error();
      x.health_endpoint = *path;
      x.metadata[key_http_id] = c.id;
      x.metadata[key_http_name] = c.name;
      x.metadata[key_http_url] = c.http;
      x.metadata[key_interval] = format_go_duration(c.interval);
      x.metadata[key_timeout] =
          format_go_duration(c.timeout.count() > 0 ? c.timeout : seconds{10});
    } else {
      if (has_ttl)
        return invalid(
            "Invalid service: valmesh keeps one TTL check per service");
      has_ttl = true;
      x.ttl_ms = c.ttl.count();
      x.metadata[key_ttl_id] = c.id;
      x.metadata[key_ttl_name] = c.name;
    }
  }
  if (r.checks.empty()) r.initial_status = health_status::passing;
  auto valid = validate_instance(std::move(x));
  if (!valid) return invalid("Invalid service: " + valid.error().message);
  r.instance = std::move(*valid);
  return r;
}

// -- rendering ----------------------------------------------------------------

std::string_view check_status(health_status s) noexcept {
  switch (s) {
    case health_status::passing:
      return "passing";
    case health_status::warning:
      return "warning";
    case health_status::critical:
    case health_status::unknown:
      return "critical";
  }
  return "critical";
}

std::string node_id(std::string_view name) {
  // Two FNV-1a hashes with different seeds make the 128 bits.
  auto fnv = [&](uint64_t h) {
    for (unsigned char c : name) {
      h ^= c;
      h *= 1099511628211ull;
    }
    return h;
  };
  uint64_t a = fnv(14695981039346656037ull);
  uint64_t b = fnv(a ^ 0x9e3779b97f4a7c15ull);
  char buf[40];
  std::snprintf(
      buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx",
      static_cast<unsigned>(a >> 32), static_cast<unsigned>((a >> 16) & 0xffff),
      static_cast<unsigned>(a & 0xffff), static_cast<unsigned>(b >> 48),
      static_cast<unsigned long long>(b & 0xffffffffffffull));
  return buf;
}

namespace {

struct check_ids {
  std::string http_id, http_name, ttl_id, ttl_name;
};

check_ids ids_of(const service_instance& x) {
  bool http = !x.health_endpoint.empty();
  bool ttl = x.ttl_ms > 0;
  auto base = "service:" + x.id;
  auto name = "Service '" + x.name + "' check";
  check_ids ids;
  ids.http_id = meta_or(x, key_http_id, http && ttl ? base + ":1" : base);
  ids.http_name = meta_or(x, key_http_name, name);
  ids.ttl_id = meta_or(x, key_ttl_id, http && ttl ? base + ":2" : base);
  ids.ttl_name = meta_or(x, key_ttl_name, name);
  return ids;
}

}  // namespace

json checks_json(const service_instance& x, const node_info& node) {
  auto index = [&](json j) {
    j["CreateIndex"] = x.create_index;
    j["ModifyIndex"] = x.modify_index;
    return j;
  };
  auto out = json::array();
  out.push_back(index({{"Node", node.name},
                       {"CheckID", "serfHealth"},
                       {"Name", "Serf Health Status"},
                       {"Status", "passing"},
                       {"Notes", ""},
                       {"Output", "Agent alive and reachable"},
                       {"ServiceID", ""},
                       {"ServiceName", ""},
                       {"ServiceTags", json::array()},
                       {"Type", ""},
                       {"Interval", ""},
                       {"Timeout", ""},
                       {"ExposedPort", 0},
                       {"Definition", definition_json(x, false)}}));
  auto ids = ids_of(x);
  auto service_check = [&](const std::string& id, const std::string& name,
                           const char* type, bool http) {
    return index({{"Node", node.name},
                  {"CheckID", id},
                  {"Name", name},
                  {"Status", check_status(x.status)},
                  {"Notes", ""},
                  {"Output", x.last_check_output},
                  {"ServiceID", x.id},
                  {"ServiceName", x.name},
                  {"ServiceTags", x.tags},
                  {"Type", type},
                  {"Interval", http ? meta_or(x, key_interval, "") : ""},
                  {"Timeout", http ? meta_or(x, key_timeout, "") : ""},
                  {"ExposedPort", 0},
                  {"Definition", definition_json(x, http)}});
  };
  if (x.ttl_ms > 0)
    out.push_back(service_check(ids.ttl_id, ids.ttl_name, "ttl", false));
  if (!x.health_endpoint.empty())
    out.push_back(service_check(ids.http_id, ids.http_name, "http", true));
  return out;
}

json agent_service_json(const service_instance& x) {
  return {{"ID", x.id},
          {"Service", x.name},
          {"Tags", x.tags},
          {"Meta", visible_meta(x)},
          {"Port", x.port},
          {"Address", x.host},
          {"TaggedAddresses",
           {{"lan_ipv4", {{"Address", x.host}, {"Port", x.port}}},
            {"wan_ipv4", {{"Address", x.host}, {"Port", x.port}}}}},
          {"Weights", weights_json(x)},
          {"EnableTagOverride", false},
          {"CreateIndex", x.create_index},
          {"ModifyIndex", x.modify_index},
          {"Datacenter", datacenter}};
}

json catalog_service_json(const service_instance& x, const node_info& node) {
  return {{"ID", node_id(node.name)},
          {"Node", node.name},
          {"Address", node.address},
          {"Datacenter", datacenter},
          {"TaggedAddresses", tagged_node_addresses(node)},
          {"NodeMeta", json::object()},
          {"ServiceKind", ""},
          {"ServiceID", x.id},
          {"ServiceName", x.name},
          {"ServiceTags", x.tags},
          {"ServiceAddress", x.host},
          {"ServiceTaggedAddresses",
           {{"lan_ipv4", {{"Address", x.host}, {"Port", x.port}}},
            {"wan_ipv4", {{"Address", x.host}, {"Port", x.port}}}}},
          {"ServiceWeights", weights_json(x)},
          {"ServiceMeta", visible_meta(x)},
          {"ServicePort", x.port},
          {"ServiceSocketPath", ""},
          {"ServiceEnableTagOverride", false},
          {"ServiceProxy",
           {{"Mode", ""},
            {"MeshGateway", json::object()},
            {"Expose", json::object()}}},
          {"ServiceConnect", json::object()},
          {"CreateIndex", x.create_index},
          {"ModifyIndex", x.modify_index}};
}

json node_json(const node_info& node) {
  return {{"ID", node_id(node.name)},
          {"Node", node.name},
          {"Address", node.address},
          {"Datacenter", datacenter},
          {"TaggedAddresses", tagged_node_addresses(node)},
          {"Meta", json::object()},
          {"CreateIndex", 1},
          {"ModifyIndex", 1}};
}

json health_entry_json(const service_instance& x, const node_info& node) {
  auto service = agent_service_json(x);
  service.erase("Datacenter");
  service["Proxy"] = {{"Mode", ""},
                      {"MeshGateway", json::object()},
                      {"Expose", json::object()}};
  service["Connect"] = json::object();
  service["PeerName"] = "";
  return {{"Node", node_json(node)},
          {"Service", std::move(service)},
          {"Checks", checks_json(x, node)}};
}

json catalog_services_json(const std::vector<service_instance>& all) {
  std::map<std::string, std::set<std::string>> tags;
  for (auto& x : all) {
    auto& t = tags[x.name];
    t.insert(x.tags.begin(), x.tags.end());
  }
  json j = json::object();
  for (auto& [name, t] : tags)
    j[name] = std::vector<std::string>(t.begin(), t.end());
  return j;
}

bool admits(const health_filter& f, const service_instance& x) {
  if (f.passing && x.status != health_status::passing) return false;
  for (auto& t : f.tags)
    if (std::find(x.tags.begin(), x.tags.end(), t) == x.tags.end())
      return false;
  return f.node_meta.empty();
}

std::optional<check_target> find_check(const std::vector<service_instance>& all,
                                       const std::string& check_id) {
  for (auto& x : all) {
    auto ids = ids_of(x);
    if (x.ttl_ms > 0 && ids.ttl_id == check_id)
      return check_target{x.name, x.id, true};
    if (!x.health_endpoint.empty() && ids.http_id == check_id)
      return check_target{x.name, x.id, false};
  }
  return std::nullopt;
}

}  // namespace valmesh::consul
