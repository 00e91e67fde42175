#pragma once

// The mesh's golden signals: `GET /api/stats` (docs/API.md) and the mesh,
// process and build series of `GET /metrics` (docs/OPERATIONS.md).

#include <memory>
#include <string>

#include "http/api.hpp"
#include "http/router.hpp"
#include "runtime/metrics/node_metrics.hpp"

namespace valmesh::web {

/// Adds `GET /api/stats?window=1m&service=S` to `r`.
void install_stats_api(router& r, std::shared_ptr<const api_context> ctx);

/// Appends the mesh's series (gathered from the loops, pruned to the
/// instances the mesh still has), `valmesh_build_info`, the process series,
/// the HTTP front end's series (gathered from the loops), the actors' and
/// the tracer's to `text`, then answers `done` with it as Prometheus text,
/// ending with `valmesh_scrape_collector_success` for `collectors` (the
/// parts read before) and the mesh and the tracer. A part that does not
/// answer leaves its series out; the scrape still answers 200.
void finish_metrics(const std::shared_ptr<const api_context>& ctx,
                    std::string text, scrape_collectors collectors,
                    responder done);

}  // namespace valmesh::web
