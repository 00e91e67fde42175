#include "runtime/common/recycling_allocator.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/beast/http/fields.hpp>

using valmesh::make_recycled;
using valmesh::recycling_allocator;
using valmesh::detail::block_cache;

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

#define SKIP_UNLESS_RECYCLING()                             \
  if (!recycling_allocator<int>::recycles)                  \
  GTEST_SKIP() << "sanitizer build: every block goes back " \
                  "to the heap, so a use after free is reported"

}  // namespace

TEST(recycling_allocator, sizes_round_up_to_their_class) {
  EXPECT_EQ(block_cache::class_of(1), 0u);
  EXPECT_EQ(block_cache::class_of(64), 0u);
  EXPECT_EQ(block_cache::class_of(65), 1u);
  EXPECT_EQ(block_cache::class_of(128), 1u);
  EXPECT_EQ(block_cache::class_of(129), 2u);
  EXPECT_EQ(block_cache::class_of(4096), block_cache::classes - 1);
  for (size_t b = 1; b <= block_cache::largest; ++b)
    ASSERT_GE(block_cache::size_of(block_cache::class_of(b)), b) << b;
}

TEST(recycling_allocator,
     a_freed_block_is_handed_out_again_on_the_same_thread) {
  SKIP_UNLESS_RECYCLING();
  recycling_allocator<tracked> a;
  auto* p = a.allocate(1);
  auto before = recycling_allocator<tracked>::cached(sizeof(tracked));
  a.deallocate(p, 1);
  EXPECT_EQ(recycling_allocator<tracked>::cached(sizeof(tracked)), before + 1);
  EXPECT_EQ(a.allocate(1), p);
  EXPECT_EQ(recycling_allocator<tracked>::cached(sizeof(tracked)), before);
  // Another type of the same class takes it too: the cache is by size.
  a.deallocate(p, 1);
  recycling_allocator<char> chars;
  EXPECT_EQ(static_cast<void*>(chars.allocate(sizeof(tracked))),
            static_cast<void*>(p));
  chars.deallocate(reinterpret_cast<char*>(p), sizeof(tracked));
}

TEST(recycling_allocator, shared_objects_reuse_their_block_and_are_destroyed) {
  SKIP_UNLESS_RECYCLING();
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

TEST(recycling_allocator,
     the_cache_is_bounded_and_large_blocks_go_to_the_heap) {
  SKIP_UNLESS_RECYCLING();
  recycling_allocator<char> a;
  constexpr size_t bytes = 1000;
  std::vector<char*> blocks;
  for (size_t i = 0; i < block_cache::capacity + 8; ++i)
    blocks.push_back(a.allocate(bytes));
  for (auto* p : blocks) a.deallocate(p, bytes);
  EXPECT_EQ(a.cached(bytes), block_cache::capacity);  // 8+ went to the heap
  auto* big = a.allocate(block_cache::largest + 1);
  a.deallocate(big, block_cache::largest + 1);
  EXPECT_EQ(a.cached(block_cache::largest), 0u);
}

TEST(recycling_allocator, over_aligned_types_keep_their_alignment) {
  recycling_allocator<wide> a;
  auto* p = a.allocate(1);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  a.deallocate(p, 1);
  auto* q = a.allocate(2);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(q) % 64, 0u);
  a.deallocate(q, 2);
}

TEST(recycling_allocator,
     a_block_freed_on_another_thread_joins_that_threads_cache) {
  SKIP_UNLESS_RECYCLING();
  using alloc = recycling_allocator<tracked>;
  auto* p = alloc{}.allocate(1);
  auto here = alloc::cached(sizeof(tracked));
  size_t before = 0, after = 0;
  std::thread other{[&] {
    before = alloc::cached(sizeof(tracked));
    alloc{}.deallocate(p, 1);  // cached there, freed when that thread ends
    after = alloc::cached(sizeof(tracked));
  }};
  other.join();
  EXPECT_EQ(after, before + 1);
  EXPECT_EQ(alloc::cached(sizeof(tracked)), here);
  // A shared object dropped on another thread is destroyed there.
  auto x = make_recycled<tracked>("made here");
  std::thread last{[x = std::move(x)]() mutable { x.reset(); }};
  last.join();
  EXPECT_EQ(tracked::alive, 0);
}

TEST(recycling_allocator, beast_fields_work_with_it) {
  using fields = boost::beast::http::basic_fields<recycling_allocator<char>>;
  fields f;
  f.set("Host", "example.com");
  f.insert("X-Long", std::string(3000, 'v'));  // above a small class
  f.insert("X-Huge", std::string(5000, 'v'));  // from the heap
  fields g = std::move(f);
  EXPECT_EQ(g["Host"], "example.com");
  EXPECT_EQ(g["X-Long"].size(), 3000u);
  EXPECT_EQ(g["X-Huge"].size(), 5000u);
  fields h;
  h = g;  // a copy, each element allocated again
  g.clear();
  EXPECT_EQ(h["Host"], "example.com");
}
