#pragma once

#include <memory>

#include <nlohmann/json.hpp>

#include "actors/inspector.hpp"
#include "http/api.hpp"
#include "http/router.hpp"

namespace valmesh::web {

/// Adds introspection (docs/API.md): `GET /api/actors` (the supervision tree
/// with each actor's figures) and, when `ctx.fault_injection` is on, the
/// drills `POST /api/debug/actors/<name>/crash` and `.../stall?ms=N`
/// (404 otherwise; the token rule applies).
void install_actors_api(router& r, std::shared_ptr<const api_context> ctx);

/// The JSON of one tree node and its children (docs/API.md).
nlohmann::json to_json(const actor_tree_node& x);

}  // namespace valmesh::web
