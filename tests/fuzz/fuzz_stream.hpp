#pragma once

// A Beast SyncReadStream over the fuzzer's bytes, handing them out in
// pieces of a size the input chooses, so that the parser meets heads and
// bodies split anywhere (and whole, where Boost 1.74 skips a limit check),
// as the server's and the upstream client's asynchronous reads do.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

namespace valmesh::fuzz {

class byte_stream {
 public:
  /// `piece` 0 hands out everything at once.
  byte_stream(std::string_view bytes, size_t piece)
      : bytes_(bytes), piece_(piece) {}

  template <class MutableBuffers>
  size_t read_some(const MutableBuffers& buffers,
                   boost::beast::error_code& ec) {
    ec = {};
    if (pos_ == bytes_.size()) {
      ec = boost::asio::error::eof;
      return 0;
    }
    auto left = bytes_.substr(pos_);
    if (piece_ > 0) left = left.substr(0, piece_);
    auto n = boost::asio::buffer_copy(
        buffers, boost::asio::buffer(left.data(), left.size()));
    pos_ += n;
    return n;
  }

  template <class MutableBuffers>
  size_t read_some(const MutableBuffers& buffers) {
    boost::beast::error_code ec;
    return read_some(buffers, ec);
  }

  bool exhausted() const noexcept { return pos_ == bytes_.size(); }

 private:
  std::string_view bytes_;
  size_t piece_;
  size_t pos_ = 0;
};

/// Feeds `bytes` to `parser` (eager) until it has a whole message, as the
/// readers' loop does with a buffer that holds everything; returns the
/// bytes it used, `ec` its error.
template <class Parser>
size_t put_whole(Parser& parser, std::string_view bytes,
                 boost::beast::error_code& ec) {
  parser.eager(true);
  size_t taken = 0;
  while (!parser.is_done() && taken < bytes.size()) {
    auto n = parser.put(
        boost::asio::buffer(bytes.data() + taken, bytes.size() - taken), ec);
    taken += n;
    if (ec || n == 0) break;
  }
  return taken;
}

}  // namespace valmesh::fuzz
