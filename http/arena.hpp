#pragma once

// A bump allocator over a buffer its owner holds (as Beast's `fields_alloc`
// example), for strings an object builds once per use: the upstream
// exchange's request head, the mesh call's header lines.

#include <cstddef>
#include <new>
#include <string>

namespace valmesh::web {

/// A bump allocator over a fixed buffer of its owner's, with the heap for
/// what does not fit; freeing inside the buffer does nothing.
class bump_arena {
 public:
  bump_arena(std::byte* space, std::size_t size) noexcept
      : space_(space), size_(size) {}
  bump_arena(const bump_arena&) = delete;
  bump_arena& operator=(const bump_arena&) = delete;

  void* allocate(std::size_t bytes, std::size_t align) {
    std::size_t at = (used_ + align - 1) & ~(align - 1);
    if (at + bytes <= size_) {
      used_ = at + bytes;
      return space_ + at;
    }
    return ::operator new(bytes);
  }
  void deallocate(void* p) noexcept {
    auto* b = static_cast<std::byte*>(p);
    if (b >= space_ && b < space_ + size_) return;
    ::operator delete(p);
  }

 private:
  std::byte* space_;
  std::size_t size_;
  std::size_t used_ = 0;
};

template <class T>
struct arena_allocator {
  using value_type = T;
  bump_arena* arena;
  explicit arena_allocator(bump_arena* a) noexcept : arena(a) {}
  template <class U>
  arena_allocator(const arena_allocator<U>& other) noexcept
      : arena(other.arena) {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(arena->allocate(n * sizeof(T), alignof(T)));
  }
  void deallocate(T* p, std::size_t) noexcept { arena->deallocate(p); }
  template <class U>
  bool operator==(const arena_allocator<U>& other) const noexcept {
    return arena == other.arena;
  }
  template <class U>
  bool operator!=(const arena_allocator<U>& other) const noexcept {
    return arena != other.arena;
  }
};

/// A string in an arena.
using arena_string =
    std::basic_string<char, std::char_traits<char>, arena_allocator<char>>;

}  // namespace valmesh::web
