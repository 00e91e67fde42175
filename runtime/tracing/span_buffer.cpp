#include "runtime/tracing/span_buffer.hpp"

#include <algorithm>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace valmesh {

namespace {

constexpr size_t align = 16;

constexpr size_t padded(size_t n) noexcept {
  return (n + align - 1) & ~(align - 1);
}

/// Copies `n` bytes to `dst` (aligned to 16) without pulling `dst` into the
/// cache, writing `padded(n)` bytes (the last block's tail is garbage).
/// The ring is written once and seldom read (queries only); written with
/// ordinary stores, the megabytes rolling through it pushed the proxy
/// path's working set out of the core's caches: with a 100-span ring,
/// tracing cost 1% of the throughput, with 10,000 spans 10% (docs/
/// BENCHMARKS.md, "The span buffer's own memory").
void stream_copy(char* dst, const char* src, size_t n) noexcept {
#if defined(__SSE2__)
  auto block = [&](size_t at) {
    _mm_stream_si128(
        reinterpret_cast<__m128i*>(dst + at),
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + at)));
  };
  for (; n >= 4 * align; n -= 4 * align, dst += 4 * align, src += 4 * align) {
    block(0);
    block(align);
    block(2 * align);
    block(3 * align);
  }
  for (; n >= align; n -= align, dst += align, src += align) block(0);
  if (n > 0) {
    alignas(align) char last[align];
    std::memcpy(last, src, n);
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst),
                     _mm_load_si128(reinterpret_cast<const __m128i*>(last)));
  }
#else
  std::memcpy(dst, src, n);
#endif
}

}  // namespace

/// Makes the streamed stores visible (they are weakly ordered), before
/// another thread may read them.
void span_buffer::stream_done() noexcept {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

span_buffer::span_buffer(size_t capacity)
    : entries_(std::max<size_t>(capacity, 1)) {
  bytes_size_ =
      std::max<size_t>(64 * 1024, entries_.size() * initial_bytes_per_span);
  max_bytes_ =
      std::max<size_t>(bytes_size_, entries_.size() * max_bytes_per_span);
  bytes_ = make_bytes(bytes_size_);
}

void span_buffer::drop_oldest() noexcept {
  --size_;
  ++dropped_;
}

std::unique_ptr<char[], span_buffer::free_bytes> span_buffer::make_bytes(
    size_t n) {
  auto* p = static_cast<char*>(::operator new[](n, std::align_val_t{align}));
  return std::unique_ptr<char[], free_bytes>{p};
}

void span_buffer::free_bytes::operator()(char* p) const noexcept {
  ::operator delete[](p, std::align_val_t{align});
}

void span_buffer::regrow(size_t bytes) {
  bytes = padded(bytes);
  auto bigger = make_bytes(bytes);
  uint64_t at = 0;
  for (size_t i = size_; i-- > 0;) {  // oldest first
    auto& e = entries_[slot_of_newest(i)];
    if (e.size > 0) std::memcpy(bigger.get() + at, log_of(e).data(), e.size);
    e.at = at;
    at += padded(e.size);
  }
  bytes_ = std::move(bigger);
  bytes_size_ = bytes;
  write_at_ = at;
}

void span_buffer::push_one(const packed_span& s) {
  ++finished_;
  auto log = s.log();
  auto n = padded(log.size());  // each log starts aligned
  // A log sits in one piece: if it does not fit before the ring's end, it
  // starts again at the beginning.
  auto place = [&] {
    auto at = write_at_;
    if (at % bytes_size_ + n > bytes_size_)
      at += bytes_size_ - at % bytes_size_;
    return at;
  };
  auto at = place();
  // The oldest spans whose bytes this log would overwrite go (a span
  // without a log counts at its place); the ring grows instead while it is
  // what runs out first.
  auto overwritten = [&] {
    return size_ > 0 && nth_newest(size_ - 1).at + bytes_size_ < at + n;
  };
  while (n > bytes_size_ || (overwritten() && size_ < entries_.size())) {
    if (n <= bytes_size_ && bytes_size_ >= max_bytes_) break;  // at its most
    regrow(n > bytes_size_ ? 2 * n : std::min(bytes_size_ * 2, max_bytes_));
    at = place();
  }
  while (overwritten()) drop_oldest();
  if (size_ == entries_.size()) drop_oldest();
  stream_copy(bytes_.get() + at % bytes_size_, log.data(), log.size());
  write_at_ = at + n;
  entry e{s.head(), at, static_cast<uint32_t>(log.size())};
  stream_copy(reinterpret_cast<char*>(&entries_[next_]),
              reinterpret_cast<const char*>(&e), sizeof(e));
  next_ = (next_ + 1) % entries_.size();
  ++size_;
}

std::vector<span_data> span_buffer::query(const span_query& q) const {
  std::vector<span_data> out;
  auto matches = [&](const entry& e) {
    if (q.trace && e.head.trace != *q.trace) return false;
    if (q.service) {
      auto name = packed_span::string_attribute(log_of(e), service_attribute);
      if (!name || *name != *q.service) return false;
    }
    return true;
  };
  for (size_t i = 0; i < size_ && out.size() < q.limit; ++i) {
    auto& e = nth_newest(i);
    if (matches(e)) out.push_back(packed_span::unpack(e.head, log_of(e)));
  }
  // Spans arrive in batches (a loop's pass, or one by one from other
  // threads), so arrival order is only nearly end order: sort what is
  // returned by end time, newest first.
  std::stable_sort(out.begin(), out.end(), [](auto& a, auto& b) {
    return a.end_unix_nano > b.end_unix_nano;
  });
  return out;
}

}  // namespace valmesh
