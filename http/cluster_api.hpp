#pragma once

#include <memory>

#include "http/api.hpp"
#include "http/router.hpp"

namespace valmesh::web {

/// Adds the cluster endpoints to `r`:
///
/// | method and path            | answer |
/// |----------------------------|--------|
/// | `GET /api/cluster/members` | `{"self", "members": [member, ...]}` |
/// | `POST /api/cluster/join`   | `{"address": "HOST:PORT"}`: join through that member; answers the members |
///
/// and the `?node=NAME` form of `GET /api/actors`, which asks that member
/// for its tree over the cluster link.
void install_cluster_api(router& r, std::shared_ptr<const api_context> ctx);

}  // namespace valmesh::web
