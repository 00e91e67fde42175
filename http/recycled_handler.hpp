#pragma once

// A completion handler whose operation state comes from the thread's
// `recycling_allocator`. Asio allocates each pending operation (a socket's
// read or write with its handler) through the handler's associated
// allocator; without one, Boost 1.74 keeps a single freed block per thread,
// which serves a loop only while each operation is freed before the next is
// allocated, and otherwise calls `malloc`. Asio's own "allocation" example
// gives its handlers an allocator the same way.

#include <utility>

#include "runtime/common/recycling_allocator.hpp"

namespace valmesh::web {

template <class Handler>
class recycled_handler {
 public:
  using allocator_type = recycling_allocator<char>;

  explicit recycled_handler(Handler h) : handler_(std::move(h)) {}

  allocator_type get_allocator() const noexcept { return {}; }

  template <class... Args>
  void operator()(Args&&... args) {
    handler_(std::forward<Args>(args)...);
  }

 private:
  Handler handler_;
};

/// Wraps `h` so that the operation it completes is allocated from the
/// thread's recycled blocks.
template <class Handler>
recycled_handler<std::decay_t<Handler>> recycled(Handler&& h) {
  return recycled_handler<std::decay_t<Handler>>{std::forward<Handler>(h)};
}

}  // namespace valmesh::web
