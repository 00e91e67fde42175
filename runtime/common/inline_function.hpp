#pragma once

// A move-only `std::function` with room inside for a callable of a few
// pointers, such as a lambda that holds a `shared_ptr`.
//
// libstdc++'s `std::function` keeps a callable inline only when it is
// trivially copyable; a lambda capturing a `shared_ptr` is not, so storing
// it costs a heap allocation. The proxy path hands such callbacks from the
// mesh call to the upstream exchange and from the router to the mesh call
// on every request; this type keeps them inline (as `stdext::inplace_function`
// and `folly::Function` do), and moves a larger callable to the heap.

#include <cstddef>
#include <functional>
#include <new>
#include <type_traits>
#include <utility>

namespace valmesh {

template <class Signature, std::size_t Size = 32>
class inline_function;

namespace detail {
template <class T>
struct is_std_function : std::false_type {};
template <class S>
struct is_std_function<std::function<S>> : std::true_type {};
}  // namespace detail

template <class R, class... Args, std::size_t Size>
class inline_function<R(Args...), Size> {
 public:
  inline_function() noexcept = default;
  inline_function(std::nullptr_t) noexcept {}  // NOLINT: as std::function

  template <class F, class T = std::decay_t<F>,
            class = std::enable_if_t<!std::is_same_v<T, inline_function> &&
                                     std::is_invocable_r_v<R, T&, Args...>>>
  inline_function(F&& f) {  // NOLINT: converts, as std::function does
    if constexpr (std::is_pointer_v<T> || std::is_member_pointer_v<T>) {
      if (f == nullptr) return;
    } else if constexpr (detail::is_std_function<T>::value) {
      if (!f) return;  // empty stays empty
    }
    if constexpr (stores_inline<T>) {
      ::new (static_cast<void*>(storage_)) T(std::forward<F>(f));
      ops_ = &inline_ops<T>;
    } else {
      ::new (static_cast<void*>(storage_)) T*(new T(std::forward<F>(f)));
      ops_ = &heap_ops<T>;
    }
  }

  inline_function(inline_function&& other) noexcept { take(other); }

  inline_function& operator=(inline_function&& other) noexcept {
    if (this != &other) {
      reset();
      take(other);
    }
    return *this;
  }

  inline_function& operator=(std::nullptr_t) noexcept {
    reset();
    return *this;
  }

  inline_function(const inline_function&) = delete;
  inline_function& operator=(const inline_function&) = delete;

  ~inline_function() { reset(); }

  explicit operator bool() const noexcept { return ops_ != nullptr; }

  /// Whether a callable of type `T` is kept inside, not on the heap.
  template <class T>
  static constexpr bool stores_inline = sizeof(T) <= Size &&
                                        alignof(T) <=
                                            alignof(std::max_align_t) &&
                                        std::is_nothrow_move_constructible_v<T>;

  /// Calls the callable; it must not be empty.
  R operator()(Args... args) const {
    return ops_->call(storage_, std::forward<Args>(args)...);
  }

 private:
  struct ops {
    R (*call)(void* self, Args&&... args);
    void (*move)(void* from, void* to) noexcept;  ///< and destroys `from`
    void (*destroy)(void* self) noexcept;
  };

  template <class T>
  static R call_inline(void* self, Args&&... args) {
    return (*static_cast<T*>(self))(std::forward<Args>(args)...);
  }
  template <class T>
  static void move_inline(void* from, void* to) noexcept {
    auto* f = static_cast<T*>(from);
    ::new (to) T(std::move(*f));
    f->~T();
  }
  template <class T>
  static void destroy_inline(void* self) noexcept {
    static_cast<T*>(self)->~T();
  }
  template <class T>
  static R call_heap(void* self, Args&&... args) {
    return (**static_cast<T**>(self))(std::forward<Args>(args)...);
  }
  template <class T>
  static void move_heap(void* from, void* to) noexcept {
    ::new (to) T*(*static_cast<T**>(from));
  }
  template <class T>
  static void destroy_heap(void* self) noexcept {
    delete *static_cast<T**>(self);
  }

  template <class T>
  static constexpr ops inline_ops{&call_inline<T>, &move_inline<T>,
                                  &destroy_inline<T>};
  template <class T>
  static constexpr ops heap_ops{&call_heap<T>, &move_heap<T>, &destroy_heap<T>};

  void take(inline_function& other) noexcept {
    if (!other.ops_) return;
    other.ops_->move(other.storage_, storage_);
    ops_ = other.ops_;
    other.ops_ = nullptr;
  }

  void reset() noexcept {
    if (!ops_) return;
    ops_->destroy(storage_);
    ops_ = nullptr;
  }

  alignas(std::max_align_t) mutable std::byte storage_[Size];
  const ops* ops_ = nullptr;
};

}  // namespace valmesh
