#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "runtime/metrics/http_stats.hpp"

namespace valmesh::web {

/// The HTTP front end's counts, one `http_stats` per event loop (see
/// http/loops.hpp): a session counts on its own loop's, with plain adds;
/// `gather` has each loop copy its own on its thread and merges the copies.
/// Both listeners of a node (HTTP and `--consul-http`) count here.
class front_end_stats : public std::enable_shared_from_this<front_end_stats> {
 public:
  explicit front_end_stats(std::vector<boost::asio::io_context*> loops);

  /// The counts of `loop`, or null if it is not one of ours. Only the
  /// thread running `loop` may touch them.
  http_stats* of(const boost::asio::io_context& loop) noexcept;

  /// Names route i (the router's patterns, `router::patterns`). Set once,
  /// before the loops run.
  void set_routes(std::vector<std::string> patterns) {
    routes_ = std::move(patterns);
  }
  const std::vector<std::string>& routes() const noexcept { return routes_; }

  using gather_fn = std::function<void(http_figures)>;

  /// Gathers every loop's figures; `done` runs once, on one of the loops'
  /// threads, with them merged.
  void gather(gather_fn done);

 private:
  std::vector<boost::asio::io_context*> loops_;
  std::vector<std::unique_ptr<http_stats>> stats_;
  std::vector<std::string> routes_;
};

}  // namespace valmesh::web
