#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <memory>
#include <new>
#include <type_traits>

// Whether a sanitizer that must see every allocation and free is on. GCC
// says so with __SANITIZE_*__, clang (before 16) only with __has_feature.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define VALMESH_HEAP_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define VALMESH_HEAP_SANITIZED 1
#endif
#endif

namespace valmesh {

namespace detail {

/// The blocks a thread has freed, by size class: 64, 128, ... 4096 bytes,
/// at most `capacity` of each. Shared by every `recycling_allocator` type on
/// the thread; emptied when the thread ends.
class block_cache {
 public:
  static constexpr size_t classes = 7;
  static constexpr size_t smallest = 64;
  static constexpr size_t largest = smallest << (classes - 1);  // 4096
  static constexpr size_t capacity = 32;

  /// The class of a block of `bytes` (at most `largest`).
  static constexpr size_t class_of(size_t bytes) noexcept {
    return bytes <= smallest
               ? 0
               : static_cast<size_t>(std::bit_width(bytes - 1)) - 6;
  }

  static constexpr size_t size_of(size_t cls) noexcept {
    return smallest << cls;
  }

  void* pop(size_t cls) noexcept {
    auto& c = lists_[cls];
    return c.size > 0 ? c.blocks[--c.size] : nullptr;
  }

  bool push(size_t cls, void* p) noexcept {
    auto& c = lists_[cls];
    if (closed_ || c.size == capacity) return false;
    c.blocks[c.size++] = p;
    return true;
  }

  size_t size(size_t cls) const noexcept { return lists_[cls].size; }

  ~block_cache() {
    // A thread_local destroyed after this one may still free blocks: they
    // go to the heap.
    closed_ = true;
    for (auto& c : lists_)
      while (c.size > 0) ::operator delete(c.blocks[--c.size]);
  }

  static block_cache& of_this_thread() noexcept {
    static thread_local block_cache c;
    return c;
  }

 private:
  struct list {
    std::array<void*, capacity> blocks;
    size_t size = 0;
  };
  std::array<list, classes> lists_;
  bool closed_ = false;
};

}  // namespace detail

/// An allocator that keeps the blocks it frees in a small cache of the
/// thread that frees them and hands them out again before it asks the heap,
/// for what is made and dropped once per request on the same thread: the
/// mesh call, its upstream exchange, the responder, the fields of the
/// client's request. In the steady state they cost no `malloc` and no
/// `free`. Asio's `recycling_allocator` (Boost 1.79) does the same for its
/// handlers, nginx and HAProxy with their pools.
///
/// Blocks are rounded up to a size class (64, 128, ... 4096 bytes); each
/// thread keeps up to 32 free blocks of each class (at most 254 KiB).
/// Larger or over-aligned blocks go to the heap. A block freed on another
/// thread joins that thread's cache, or the heap when the cache is full:
/// every block is `operator new`'s, so any thread may free it.
///
/// Under AddressSanitizer and ThreadSanitizer every block goes back to the
/// heap (`recycles` is false): they see each free and allocation, so a use
/// after free, or an access racing with the end of an object, is still
/// reported.
template <class T>
class recycling_allocator {
 public:
  using value_type = T;
  using is_always_equal = std::true_type;
  using propagate_on_container_move_assignment = std::true_type;

#if defined(VALMESH_HEAP_SANITIZED)
  static constexpr bool recycles = false;
#else
  static constexpr bool recycles = true;
#endif

  recycling_allocator() noexcept = default;

  template <class U>
  recycling_allocator(const recycling_allocator<U>&) noexcept {}

  T* allocate(size_t n) {
    auto bytes = n * sizeof(T);
    if (!pooled(bytes)) return static_cast<T*>(heap_new(bytes));
    auto cls = detail::block_cache::class_of(bytes);
    if (auto* p = detail::block_cache::of_this_thread().pop(cls))
      return static_cast<T*>(p);
    return static_cast<T*>(::operator new(detail::block_cache::size_of(cls)));
  }

  void deallocate(T* p, size_t n) noexcept {
    auto bytes = n * sizeof(T);
    if (pooled(bytes) && detail::block_cache::of_this_thread().push(
                             detail::block_cache::class_of(bytes), p))
      return;
    heap_delete(p);
  }

  /// Free blocks the calling thread keeps for blocks of `bytes` (tests).
  static size_t cached(size_t bytes) noexcept {
    return detail::block_cache::of_this_thread().size(
        detail::block_cache::class_of(bytes));
  }

  template <class U>
  bool operator==(const recycling_allocator<U>&) const noexcept {
    return true;
  }

 private:
  static constexpr bool over_aligned =
      alignof(T) > __STDCPP_DEFAULT_NEW_ALIGNMENT__;

  static constexpr bool pooled(size_t bytes) noexcept {
    return recycles && !over_aligned && bytes > 0 &&
           bytes <= detail::block_cache::largest;
  }

  static void* heap_new(size_t bytes) {
    if constexpr (over_aligned)
      return ::operator new (bytes, std::align_val_t{alignof(T)});
    else
      return ::operator new(bytes);
  }

  static void heap_delete(void* p) noexcept {
    if constexpr (over_aligned)
      ::operator delete (p, std::align_val_t{alignof(T)});
    else
      ::operator delete(p);
  }
};

/// `std::allocate_shared` with a `recycling_allocator`: object and control
/// block in one recycled block.
template <class T, class... Args>
std::shared_ptr<T> make_recycled(Args&&... args) {
  return std::allocate_shared<T>(recycling_allocator<T>{},
                                 std::forward<Args>(args)...);
}

}  // namespace valmesh
