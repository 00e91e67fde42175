#include "http/drained.hpp"

#include <boost/asio/detail/reactor_fwd.hpp>

#if defined(BOOST_ASIO_HAS_EPOLL) && !defined(BOOST_ASIO_HAS_IOCP) && \
    !defined(BOOST_ASIO_WINDOWS_RUNTIME)
#define VALMESH_DRAINED_READS 1
#include <boost/asio/detail/epoll_reactor.hpp>
#endif

namespace valmesh::web {

#if defined(VALMESH_DRAINED_READS)

namespace {

namespace ad = boost::asio::detail;
using state = ad::epoll_reactor::descriptor_state;
constexpr int max_ops = ad::epoll_reactor::max_ops;
constexpr int read_op = ad::epoll_reactor::read_op;

// The reactor's per-socket state and the socket's link to it are private
// to Asio. An explicit instantiation may name a private member
// ([temp.spec.general]/6), so `member_of<Tag, &T::m>` hands out the pointer
// to member `m` through the friend function `get(Tag)`, declared by the tag.
template <class Tag, typename Tag::type Member>
struct member_of {
  friend typename Tag::type get(Tag) { return Member; }
};

struct state_mutex {
  using type = ad::conditionally_enabled_mutex state::*;
  friend type get(state_mutex);
};
struct state_ops {
  using type = ad::op_queue<ad::reactor_op> (state::*)[max_ops];
  friend type get(state_ops);
};
struct state_try_speculative {
  using type = bool (state::*)[max_ops];
  friend type get(state_try_speculative);
};
using socket_base =
    boost::asio::basic_socket<boost::asio::ip::tcp,
                              boost::asio::io_context::executor_type>;
struct socket_impl {
  using type =
      ad::io_object_impl<ad::reactive_socket_service<boost::asio::ip::tcp>,
                         boost::asio::io_context::executor_type>
          socket_base::*;
  friend type get(socket_impl);
};

template struct member_of<state_mutex, &state::mutex_>;
template struct member_of<state_ops, &state::op_queue_>;
template struct member_of<state_try_speculative, &state::try_speculative_>;
template struct member_of<socket_impl, &socket_base::impl_>;

state* state_of(loop_tcp_socket& s) noexcept {
  socket_base& base = s;
  return (base.*get(socket_impl{})).get_implementation().reactor_data_;
}

}  // namespace

bool read_is_waiting(loop_tcp_socket& s) noexcept {
  auto* st = state_of(s);
  if (st == nullptr) return false;
  ad::conditionally_enabled_mutex::scoped_lock lock(st->*get(state_mutex{}));
  return !(st->*get(state_ops{}))[read_op].empty();
}

void skip_next_speculative_read(loop_tcp_socket& s) noexcept {
  auto* st = state_of(s);
  if (st == nullptr) return;
  ad::conditionally_enabled_mutex::scoped_lock lock(st->*get(state_mutex{}));
  (st->*get(state_try_speculative{}))[read_op] = false;
}

bool drained_reads_supported() noexcept {
  return true;
}

#else

bool read_is_waiting(loop_tcp_socket&) noexcept {
  return false;
}
void skip_next_speculative_read(loop_tcp_socket&) noexcept {}
bool drained_reads_supported() noexcept {
  return false;
}

#endif

}  // namespace valmesh::web
