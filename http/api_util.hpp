#pragma once

// Small helpers shared by the API handlers (http/api.cpp, http/mesh_api.cpp).

#include <string>

#include <nlohmann/json.hpp>

#include "http/server.hpp"

namespace valmesh::web {

using json = nlohmann::json;

inline void reply_error(const responder& done, const failure& f) {
  done(make_error_response(f, done.version()));
}

/// Serialises without throwing: invalid UTF-8 is replaced, never fatal.
inline std::string to_body(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

inline void reply_json(const responder& done, unsigned status, const json& j) {
  done(make_json_response(status, to_body(j), done.version()));
}

inline expected<json> parse_body(const request& req) {
  if (req.body().empty())
    return failure{errc::invalid_argument, "the request needs a JSON body"};
  auto j = json::parse(req.body(), nullptr, false);
  if (j.is_discarded())
    return failure{errc::invalid_argument, "the body is not valid JSON"};
  return j;
}

}  // namespace valmesh::web
