#pragma once

#include <memory>

#include "http/mesh.hpp"
#include "http/router.hpp"

namespace valmesh::web {

/// Adds `ANY /proxy/:name/<path>` and `POST /api/call` (docs/API.md).
void install_mesh_api(router& r, std::shared_ptr<mesh_caller> mesh);

}  // namespace valmesh::web
