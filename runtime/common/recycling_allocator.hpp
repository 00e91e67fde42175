#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <new>

namespace valmesh {

/// An allocator that keeps the blocks it frees in a small cache of the
/// thread that frees them and hands them out again before it asks the heap:
/// for objects made and dropped once per request on the same thread (the
/// mesh call, its upstream exchange, the responder), so that in the steady
/// state they cost no `malloc` and no `free`. Asio's `recycling_allocator`
/// (Boost 1.79) does the same for its handlers.
///
/// Each value type has its own cache per thread (`Capacity` blocks, single
/// objects only: arrays go to the heap). A block freed on another thread
/// goes to that thread's cache, or to the heap when it is full; the memory
/// is `operator new`'s either way, so any thread may free it. A thread's
/// cache is emptied when the thread ends.
///
/// Under AddressSanitizer every block goes back to the heap (`recycles` is
/// false), so a use after free of these objects is still reported.
template <class T, size_t Capacity = 32>
class recycling_allocator {
 public:
  using value_type = T;

  template <class U>
  struct rebind {
    using other = recycling_allocator<U, Capacity>;
  };

#if defined(__SANITIZE_ADDRESS__)
  static constexpr bool recycles = false;
#else
  static constexpr bool recycles = true;
#endif

  recycling_allocator() noexcept = default;

  template <class U>
  recycling_allocator(const recycling_allocator<U, Capacity>&) noexcept {}

  T* allocate(size_t n) {
    if (recycles && n == 1) {
      auto& c = cache();
      if (c.size > 0) return static_cast<T*>(c.blocks[--c.size]);
    }
    return static_cast<T*>(heap_new(n * sizeof(T)));
  }

  void deallocate(T* p, size_t n) noexcept {
    if (recycles && n == 1) {
      auto& c = cache();
      if (c.size < Capacity) {
        c.blocks[c.size++] = p;
        return;
      }
    }
    heap_delete(p);
  }

  /// Blocks cached by the calling thread (tests).
  static size_t cached() noexcept {
    return cache().size;
  }

  template <class U>
  bool operator==(const recycling_allocator<U, Capacity>&) const noexcept {
    return true;
  }

 private:
  static constexpr bool over_aligned =
      alignof(T) > __STDCPP_DEFAULT_NEW_ALIGNMENT__;

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

  struct block_cache {
    std::array<void*, Capacity> blocks;
    size_t size = 0;
    ~block_cache() {
      while (size > 0) heap_delete(blocks[--size]);
    }
  };

  static block_cache& cache() noexcept {
    static thread_local block_cache c;
    return c;
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
