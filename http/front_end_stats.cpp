#include "http/front_end_stats.hpp"

#include <mutex>

#include <boost/asio/post.hpp>

namespace valmesh::web {

front_end_stats::front_end_stats(std::vector<boost::asio::io_context*> loops)
    : loops_(std::move(loops)) {
  for (size_t i = 0; i < loops_.size(); ++i)
    stats_.push_back(std::make_unique<http_stats>());
}

http_stats* front_end_stats::of(const boost::asio::io_context& loop) noexcept {
  for (size_t i = 0; i < loops_.size(); ++i)
    if (loops_[i] == &loop) return stats_[i].get();
  return nullptr;
}

void front_end_stats::gather(gather_fn done) {
  struct pass {
    std::mutex mtx;
    size_t left = 0;
    http_figures figures;
    gather_fn done;
  };
  auto p = std::make_shared<pass>();
  p->left = loops_.size();
  p->done = std::move(done);
  if (p->left == 0) return p->done({});
  for (size_t i = 0; i < loops_.size(); ++i) {
    auto* stats = stats_[i].get();
    boost::asio::post(*loops_[i], [p, stats, self = shared_from_this()] {
      auto mine = stats->figures();
      std::unique_lock<std::mutex> guard{p->mtx};
      p->figures.merge(mine);
      if (--p->left > 0) return;
      guard.unlock();
      p->done(std::move(p->figures));
    });
  }
}

}  // namespace valmesh::web
