#include "runtime/common/recycling_allocator.hpp"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

using valmesh::make_recycled;
using valmesh::recycling_allocator;

namespace {

/// Counts the objects alive, to see that recycling a block still runs
/// every constructor and destructor.
struct tracked {
  static inline int alive = 0;
  std::string name;
  explicit tracked(std::string n) : name(std::move(n)) { ++alive; }
  ~tracked() { --alive; }
};

struct alignas(64) wide {
  char bytes[64];
};

}  // namespace

TEST(recycling_allocator,
     a_freed_block_is_handed_out_again_on_the_same_thread) {
  if (!recycling_allocator<int>::recycles)
    GTEST_SKIP() << "AddressSanitizer build: blocks go back to the heap";
  recycling_allocator<tracked> a;
  auto* p = a.allocate(1);
  auto before = recycling_allocator<tracked>::cached();
  a.deallocate(p, 1);
  EXPECT_EQ(recycling_allocator<tracked>::cached(), before + 1);
  EXPECT_EQ(a.allocate(1), p);
  EXPECT_EQ(recycling_allocator<tracked>::cached(), before);
  a.deallocate(p, 1);
}

TEST(recycling_allocator, shared_objects_reuse_their_block_and_are_destroyed) {
  if (!recycling_allocator<int>::recycles)
    GTEST_SKIP() << "AddressSanitizer build: blocks go back to the heap";
  void* first = nullptr;
  {
    auto x = make_recycled<tracked>("a");
    first = x.get();
    EXPECT_EQ(tracked::alive, 1);
  }
  EXPECT_EQ(tracked::alive, 0);
  auto y = make_recycled<tracked>("b");
  EXPECT_EQ(static_cast<void*>(y.get()), first);  // the same block
  EXPECT_EQ(y->name, "b");
  EXPECT_EQ(tracked::alive, 1);
}

TEST(recycling_allocator, the_cache_is_bounded_and_arrays_go_to_the_heap) {
  if (!recycling_allocator<int>::recycles)
    GTEST_SKIP() << "AddressSanitizer build: blocks go back to the heap";
  using small = recycling_allocator<int, 4>;
  small a;
  std::vector<int*> blocks;
  for (int i = 0; i < 10; ++i) blocks.push_back(a.allocate(1));
  for (auto* p : blocks) a.deallocate(p, 1);
  EXPECT_EQ(small::cached(), 4u);  // the other 6 went back to the heap
  auto* arr = a.allocate(3);
  EXPECT_EQ(small::cached(), 4u);
  a.deallocate(arr, 3);
  EXPECT_EQ(small::cached(), 4u);
}

TEST(recycling_allocator, over_aligned_types_keep_their_alignment) {
  recycling_allocator<wide> a;
  auto* p = a.allocate(1);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  a.deallocate(p, 1);
  auto* q = a.allocate(1);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(q) % 64, 0u);
  a.deallocate(q, 1);
}

TEST(recycling_allocator,
     a_block_freed_on_another_thread_joins_that_threads_cache) {
  auto x = make_recycled<tracked>("made here");
  std::thread other{[x = std::move(x)]() mutable {
    x.reset();  // freed here, cached here, freed with this thread's cache
  }};
  other.join();
  EXPECT_EQ(tracked::alive, 0);
}
