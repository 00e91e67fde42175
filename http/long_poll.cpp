#include "http/long_poll.hpp"

#include <random>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "http/loops.hpp"
#include "runtime/consul/consul.hpp"

namespace valmesh::web {

namespace net = boost::asio;

namespace {

/// One held query; touched only on its loop. It keeps its place among the
/// held queries until it is answered (or dropped with its connection).
struct held_query {
  held_query(net::io_context& ioc, std::shared_ptr<std::atomic<int64_t>> held)
      : timer(ioc), held(std::move(held)) {}
  ~held_query() { release(); }
  held_query(const held_query&) = delete;
  held_query& operator=(const held_query&) = delete;

  void release() {
    if (held) held->fetch_sub(1, std::memory_order_relaxed);
    held.reset();
  }

  net::steady_timer timer;
  std::shared_ptr<std::atomic<int64_t>> held;
  uint64_t ticket = 0;
  bool answered = false;
  std::function<void(uint64_t)> read;

  void answer(uint64_t index) {
    if (answered) return;
    answered = true;
    release();
    timer.cancel();
    auto f = std::move(read);
    f(index);
  }
};

uint64_t random_number() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  return gen();
}

}  // namespace

bool read_when_changed(const long_poll_context& lp, const std::string& key,
                       uint64_t seen, std::chrono::milliseconds wait,
                       std::function<void(uint64_t index)> read) {
  auto& w = lp.watches;
  if (!w) {
    read(1);
    return true;
  }
  auto now = w->index(key);
  if (seen == 0 || now > seen || wait.count() <= 0 || lp.loops.empty()) {
    read(now);
    return true;
  }
  if (lp.held->fetch_add(1, std::memory_order_relaxed) >=
      static_cast<int64_t>(lp.max_held)) {
    lp.held->fetch_sub(1, std::memory_order_relaxed);
    return false;
  }
  auto i = this_thread_loop();
  auto& ioc = *lp.loops[i >= 0 && static_cast<size_t>(i) < lp.loops.size()
                            ? static_cast<size_t>(i)
                            : 0];
  auto q = std::make_shared<held_query>(ioc, lp.held);
  q->read = std::move(read);
  auto delay = consul::with_jitter(wait, random_number());
  // Set up on the loop (inline when this thread runs it), so every touch of
  // the query happens there.
  net::dispatch(ioc, [q, w, key, seen, delay, &ioc] {
    auto ticket = w->wait(key, seen, [q, &ioc](uint64_t index) {
      net::post(ioc, [q, index] { q->answer(index); });
    });
    if (ticket == 0) return;  // changed meanwhile: the answer is posted
    q->ticket = ticket;
    q->timer.expires_after(delay);
    q->timer.async_wait([q, w, key](const boost::system::error_code& ec) {
      if (ec || q->answered) return;
      // Still waiting: withdraw and answer with the unchanged index. If
      // the wake-up won the race, its posted answer comes next.
      if (w->cancel(q->ticket)) q->answer(w->index(key));
    });
  });
  return true;
}

}  // namespace valmesh::web
