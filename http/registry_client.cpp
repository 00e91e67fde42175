#include "http/registry_client.hpp"

#include <nlohmann/json.hpp>

namespace valmesh {

namespace {

using json = nlohmann::json;

expected<json> json_of(expected<web::client_response>&& res, unsigned ok) {
  if (!res) return std::move(res).error();
  if (res->status != ok) return failure_from_response(*res);
  auto j = json::parse(res->body, nullptr, false);
  if (j.is_discarded())
    return failure{errc::bad_gateway, "the node answered something not JSON"};
  return j;
}

}  // namespace

failure failure_from_response(const web::client_response& res) {
  auto j = json::parse(res.body, nullptr, false);
  if (!j.is_discarded() && j.contains("error") && j["error"].is_object()) {
    auto& e = j["error"];
    failure f{errc::internal, e.value("message", std::string{})};
    auto code = e.value("code", std::string{});
    for (uint8_t c = 1; c <= static_cast<uint8_t>(errc::internal); ++c)
      if (to_string(static_cast<errc>(c)) == code)
        f.code = static_cast<errc>(c);
    return f;
  }
  return failure{errc::internal,
                 "the node answered status " + std::to_string(res.status)};
}

registry_client::registry_client(endpoint node, std::string token)
    : node_(std::move(node)), token_(std::move(token)) {}

expected<web::client_response> registry_client::raw(const std::string& method,
                                                    const std::string& target,
                                                    std::string body) {
  web::client_request req;
  req.method = method;
  req.target = target;
  req.body = std::move(body);
  if (!token_.empty())
    req.headers.emplace_back("Authorization", "Bearer " + token_);
  return web::send_request(node_, req);
}

expected<service_instance> registry_client::register_service(
    const service_instance& x) {
  auto j = json_of(raw("POST", "/api/services", to_json(x).dump()), 201);
  if (!j) return std::move(j).error();
  return parse_stored_instance(*j);
}

expected<service_instance> registry_client::get_service(
    const std::string& name, resolve_options options) {
  auto target =
      "/api/services/" + web::encode_path_segment(name) +
      "/resolve?strategy=" + std::string{to_string(options.strategy)} +
      "&healthyOnly=" + (options.healthy_only ? "true" : "false");
  auto j = json_of(raw("GET", target), 200);
  if (!j) return std::move(j).error();
  return parse_stored_instance(*j);
}

expected<std::vector<service_summary>> registry_client::services() {
  auto j = json_of(raw("GET", "/api/services"), 200);
  if (!j) return std::move(j).error();
  std::vector<service_summary> result;
  for (auto& s : (*j)["services"]) {
    service_summary x;
    x.name = s.value("name", std::string{});
    x.instance_count = s.value("instanceCount", 0u);
    x.passing_count = s.value("passingCount", 0u);
    x.versions = s.value("versions", std::vector<std::string>{});
    result.push_back(std::move(x));
  }
  return result;
}

expected<std::vector<service_instance>> registry_client::instances(
    const std::string& name) {
  auto j = json_of(
      raw("GET", "/api/services/" + web::encode_path_segment(name)), 200);
  if (!j) return std::move(j).error();
  std::vector<service_instance> result;
  for (auto& i : (*j)["instances"]) {
    auto x = parse_stored_instance(i);
    if (!x) return std::move(x).error();
    result.push_back(std::move(*x));
  }
  return result;
}

expected<bool> registry_client::deregister(const std::string& name,
                                           const std::string& id) {
  auto res = raw("DELETE", "/api/services/" + web::encode_path_segment(name) +
                               "/" + web::encode_path_segment(id));
  if (!res) return std::move(res).error();
  if (res->status != 204) return failure_from_response(*res);
  return true;
}

expected<service_instance> registry_client::heartbeat(const std::string& name,
                                                      const std::string& id) {
  auto j =
      json_of(raw("PUT", "/api/services/" + web::encode_path_segment(name) +
                             "/" + web::encode_path_segment(id) + "/heartbeat"),
              200);
  if (!j) return std::move(j).error();
  return parse_stored_instance(*j);
}

}  // namespace valmesh
