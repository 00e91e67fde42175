#include "http/mesh_api.hpp"

#include "http/api_util.hpp"
#include "runtime/common/duration.hpp"

namespace valmesh::web {

using namespace std::string_view_literals;

namespace {

using verb = beast_http::verb;

std::string_view header_value(const request& req, std::string_view name) {
  auto i = req.find(name);
  return i == req.end()
             ? std::string_view{}
             : std::string_view{i->value().data(), i->value().size()};
}

/// The mesh's own headers on every answer (docs/API.md).
template <class Message>
void stamp(Message& res, const mesh_result& r) {
  res.set("X-Correlation-ID", r.correlation_id);
  res.set("X-Valmesh-Attempts", std::to_string(r.attempts));
  if (!r.instance.empty()) res.set("X-Valmesh-Instance", r.instance);
}

/// The upstream's headers and the mesh's own, as header lines: what
/// `stamp` makes of a response with the upstream's headers inserted (the
/// mesh's replace any of the same name). Written over `out`.
void stamp_fields(const mesh_result& r, std::string& out) {
  out.clear();
  auto line = [&out](std::string_view k, std::string_view v) {
    out.append(k).append(": "sv).append(v).append("\r\n"sv);
  };
  for (auto& [k, v] : r.headers) {
    auto kind = classify_header(k);
    if (kind == header_kind::x_correlation_id ||
        kind == header_kind::x_valmesh_attempts ||
        (kind == header_kind::x_valmesh_instance && !r.instance.empty()))
      continue;
    line(k, v);
  }
  line("X-Correlation-ID", r.correlation_id);
  line("X-Valmesh-Attempts", std::to_string(r.attempts));
  if (!r.instance.empty()) line("X-Valmesh-Instance", r.instance);
}

/// The mesh's own failure as a JSON error, with the mesh's headers.
void reply_mesh_error(const responder& done, const mesh_result& r) {
  auto res = make_error_response(*r.error, done.version());
  stamp(res, r);
  done(std::move(res));
}

/// `ANY /proxy/:name/<path>`: the upstream's answer, or the mesh's error.
void proxy(mesh_caller& mesh, request_context&& rc, responder done) {
  auto overrides = parse_overrides(header_value(rc.req, "X-Valmesh-Timeout-Ms"),
                                   header_value(rc.req, "X-Valmesh-Retries"));
  if (!overrides) return reply_error(done, overrides.error());
  mesh_request m;
  m.service = std::string{rc.param("name")};
  m.method = rc.req.method();
  // The query goes back on the rest of the path in place (no temporary).
  if (!rc.query_string.empty()) rc.rest.append(1, '?').append(rc.query_string);
  m.target = std::move(rc.rest);
  m.headers.reserve(16);
  for (auto& f : rc.req)
    m.headers.emplace_back(std::string{f.name_string()},
                           std::string{f.value()});
  m.body = std::move(rc.req.body());
  m.client_addr = done.peer();
  m.overrides = *overrides;
  m.route = "/proxy/:name/*";
  mesh.call(std::move(m), [done = std::move(done)](mesh_result&& r) {
    if (r.error) return reply_mesh_error(done, r);
    // One buffer per thread for the answers' header lines: `raw` copies
    // them before it returns, so it keeps its capacity from call to call.
    thread_local std::string fields;
    stamp_fields(r, fields);
    done.raw(r.status, fields, std::move(r.body));
  });
}

/// Reads the JSON form of a call (`POST /api/call`, docs/API.md).
expected<mesh_request> read_call(const json& j) {
  auto bad = [](std::string m) {
    return failure{errc::invalid_argument, std::move(m)};
  };
  if (!j.is_object()) return bad("the body must be a JSON object");
  mesh_request m;
  for (auto& [k, v] : j.items()) {
    if (k == "service") {
      if (!v.is_string() || v.get_ref<const std::string&>().empty())
        return bad("'service' must be a non-empty string");
      m.service = v.get<std::string>();
    } else if (k == "method") {
      if (!v.is_string()) return bad("'method' must be a string");
      m.method = beast_http::string_to_verb(v.get<std::string>());
      if (m.method == verb::unknown)
        return bad("'method' is not an HTTP method: " + v.get<std::string>());
    } else if (k == "path") {
      if (!v.is_string() || v.get_ref<const std::string&>().empty() ||
          v.get_ref<const std::string&>().front() != '/')
        return bad("'path' must be a string starting with '/'");
      m.target = v.get<std::string>();
    } else if (k == "headers") {
      if (!v.is_object()) return bad("'headers' must be an object of strings");
      for (auto& [name, value] : v.items()) {
        if (!value.is_string())
          return bad("header '" + name + "' must be a string");
        m.headers.emplace_back(name, value.get<std::string>());
      }
    } else if (k == "body") {
      m.body = v.is_string() ? v.get<std::string>() : to_body(v);
    } else if (k == "timeout") {
      if (v.is_number_unsigned()) {
        m.overrides.timeout = std::chrono::milliseconds{v.get<uint64_t>()};
      } else if (v.is_string()) {
        auto d = parse_duration(v.get<std::string>());
        if (!d) return bad("'timeout' is not a duration like \"2s\"");
        m.overrides.timeout = *d;
      } else {
        return bad("'timeout' must be milliseconds or a duration string");
      }
    } else if (k == "retries") {
      if (!v.is_number_unsigned()) return bad("'retries' must be 0..10");
      m.overrides.retries =
          static_cast<uint32_t>(std::min<uint64_t>(v.get<uint64_t>(), 1000));
    } else if (k == "correlationId") {
      if (!v.is_string()) return bad("'correlationId' must be a string");
      m.correlation_id = v.get<std::string>();
    } else {
      return bad("unknown field '" + k + "'");
    }
  }
  if (m.service.empty()) return bad("'service' is required");
  if (auto f = validate_overrides(m.overrides)) return *f;
  return m;
}

/// `POST /api/call`: the call's outcome as JSON.
void api_call(mesh_caller& mesh, request_context&& rc, responder done) {
  auto body = parse_body(rc.req);
  if (!body) return reply_error(done, body.error());
  auto m = read_call(*body);
  if (!m) return reply_error(done, m.error());
  m->client_addr = done.peer();
  m->route = "/api/call";
  // The call continues the trace of the HTTP request, unless its JSON
  // headers name another parent.
  if (!tracer::extract(m->headers))
    for (auto name : {"traceparent", "tracestate"})
      if (auto v = header_value(rc.req, name); !v.empty())
        m->headers.emplace_back(name, std::string{v});
  mesh.call(std::move(*m), [done = std::move(done)](mesh_result&& r) {
    if (r.error) return reply_mesh_error(done, r);
    auto headers = json::object();
    for (auto& [k, v] : r.headers) headers[k] = v;
    json j = {{"status", r.status},
              {"headers", std::move(headers)},
              {"body", std::move(r.body)},
              {"attempts", r.attempts},
              {"instance", r.instance},
              {"correlationId", r.correlation_id},
              {"durationMs", static_cast<double>(r.duration.count()) / 1000.0}};
    auto res = make_json_response(200, to_body(j), done.version());
    stamp(res, r);
    done(std::move(res));
  });
}

}  // namespace

void install_mesh_api(router& r, std::shared_ptr<mesh_caller> mesh) {
  // Calls go through without the node's token: it guards changes to the
  // node, while a proxied request's Authorization belongs to the upstream.
  r.any("/proxy/:name/*", [mesh](request_context&& rc, responder done) {
    proxy(*mesh, std::move(rc), std::move(done));
  });
  r.add(verb::post, "/api/call", [mesh](request_context&& rc, responder done) {
    api_call(*mesh, std::move(rc), std::move(done));
  });
}

}  // namespace valmesh::web
