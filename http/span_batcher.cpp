#include "http/span_batcher.hpp"

#include <condition_variable>
#include <mutex>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "http/loops.hpp"

namespace valmesh::web {

/// One loop's spans of this pass, and the spans to record the loop's next
/// ones into; only the loop's thread touches it (but `returns`, which the
/// tracer fills when it exports).
struct span_batcher::loop_batch {
  loop_batch(boost::asio::io_context& ioc, const span_batcher& owner)
      : timer(ioc), owner(owner) {}

  boost::asio::steady_timer timer;
  const span_batcher& owner;
  std::vector<packed_span> spans;
  bool flush_scheduled = false;
  std::shared_ptr<span_returns> returns = std::make_shared<span_returns>();
  /// Spans to record into (popped from the back).
  std::vector<packed_span> spare;
  /// An empty vector with room, for the next batch.
  std::vector<packed_span> next_batch;

  packed_span fresh() {
    if (spare.empty()) {
      if (next_batch.capacity() == 0) next_batch.swap(spare);
      if (!returns->take(spare)) return {};
    }
    auto s = std::move(spare.back());
    spare.pop_back();
    return s;
  }

  void add(packed_span&& s) {
    spans.push_back(std::move(s));
    if (spans.size() >= flush_batch) {
      timer.cancel();  // its handler then finds nothing to do
      return flush();
    }
    if (flush_scheduled) return;
    flush_scheduled = true;
    timer.expires_after(flush_period);
    timer.async_wait([this](boost::system::error_code ec) {
      if (!ec) flush();
    });
  }

  void flush() {
    flush_scheduled = false;
    if (spans.empty()) return;
    if (owner.buffer_) owner.buffer_->push(spans);
    if (owner.to_tracer_) {
      if (auto t = owner.target_()) {
        caf::anon_send(
            t, spans_atom::value,
            packed_batch{std::move(spans), returns, owner.buffer_ != nullptr});
        spans.clear();
        spans.swap(next_batch);
        if (spans.capacity() == 0) spans.reserve(flush_batch);
        return;
      }
      // The tracer is restarting: the spans are not exported (and without
      // a shared buffer, lost).
    }
    keep_spare();
  }

  /// The batch's spans become spare ones, their logs' memory kept.
  void keep_spare() {
    if (spare.empty()) {
      spare.swap(spans);
    } else {
      for (auto& s : spans)
        if (spare.size() < 2 * flush_batch) spare.push_back(std::move(s));
    }
    spans.clear();
    if (spans.capacity() == 0) spans.reserve(flush_batch);
  }
};

span_batcher::span_batcher(const std::vector<boost::asio::io_context*>& loops,
                           std::function<tracer_actor()> target,
                           std::shared_ptr<shared_span_buffer> buffer,
                           bool exporting)
    : target_(std::move(target)),
      buffer_(std::move(buffer)),
      to_tracer_(!buffer_ || exporting) {
  for (auto* ioc : loops)
    loops_.push_back(std::make_unique<loop_batch>(*ioc, *this));
}

span_batcher::~span_batcher() = default;

void span_batcher::submit(packed_span&& s) {
  auto i = this_thread_loop();
  if (i >= 0 && static_cast<size_t>(i) < loops_.size())
    return loops_[static_cast<size_t>(i)]->add(std::move(s));
  if (buffer_) buffer_->push(s);
  if (!to_tracer_) return;
  if (auto t = target_()) {
    packed_batch one;
    one.spans.push_back(std::move(s));
    one.kept = buffer_ != nullptr;
    caf::anon_send(t, spans_atom::value, std::move(one));
  }
}

packed_span span_batcher::fresh() {
  auto i = this_thread_loop();
  if (i >= 0 && static_cast<size_t>(i) < loops_.size())
    return loops_[static_cast<size_t>(i)]->fresh();
  return {};
}

bool span_batcher::flush(std::chrono::milliseconds timeout) {
  struct countdown {
    std::mutex mtx;
    std::condition_variable cv;
    size_t left;
  };
  auto done = std::make_shared<countdown>();
  done->left = loops_.size();
  for (auto& b : loops_)
    boost::asio::post(b->timer.get_executor(), [done, b = b.get()] {
      b->timer.cancel();
      b->flush();
      std::lock_guard guard{done->mtx};
      if (--done->left == 0) done->cv.notify_all();
    });
  std::unique_lock guard{done->mtx};
  return done->cv.wait_for(guard, timeout, [&] { return done->left == 0; });
}

}  // namespace valmesh::web
