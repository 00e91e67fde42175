#pragma once

// The mesh's golden signals: `GET /api/stats` (docs/API.md) and the mesh,
// process and build series of `GET /metrics` (docs/OPERATIONS.md).

#include <memory>
#include <string>

#include "http/api.hpp"
#include "http/router.hpp"

namespace valmesh::web {

/// Adds `GET /api/stats?window=1m&service=S` to `r`.
void install_stats_api(router& r, std::shared_ptr<const api_context> ctx);

/// Appends the mesh's series (gathered from the loops, pruned to the
/// instances the mesh still has), `valmesh_build_info`, the process series
/// and the HTTP front end's series (gathered from the loops) to `text`, then answers `done` with it as Prometheus text.
void finish_metrics(const std::shared_ptr<const api_context>& ctx,
                    std::string text, responder done);

}  // namespace valmesh::web
