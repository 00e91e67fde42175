#include "runtime/common/inline_function.hpp"

#include <memory>
#include <string>

#include <gtest/gtest.h>

using valmesh::inline_function;

namespace {

using fn = inline_function<int(int)>;

/// Its `alive` counts the copies of it that exist (a move adds none).
struct probe {
  std::shared_ptr<int> alive = std::make_shared<int>(0);
  int operator()(int x) const { return x + *alive; }
};

}  // namespace

TEST(inline_function, a_lambda_holding_a_shared_ptr_is_kept_inline) {
  auto owner = std::make_shared<int>(5);
  auto f = [owner](int x) { return x + *owner; };
  static_assert(!std::is_trivially_copyable_v<decltype(f)>,
                "std::function would put this one on the heap");
  static_assert(fn::stores_inline<decltype(f)>);
  fn g = std::move(f);
  EXPECT_EQ(g(1), 6);
  EXPECT_EQ(owner.use_count(), 2);  // the lambda's copy, inside g
}

TEST(inline_function, a_larger_callable_goes_to_the_heap_and_still_works) {
  std::string big(100, 'x');
  auto a = std::make_shared<int>(1), b = a, c = a;
  auto f = [big, a, b, c](int x) {
    return x + static_cast<int>(big.size()) + *a;
  };
  static_assert(!fn::stores_inline<decltype(f)>);
  fn g = std::move(f);
  EXPECT_EQ(g(1), 102);
  fn h = std::move(g);  // moves the pointer, not the callable
  EXPECT_FALSE(g);
  EXPECT_EQ(h(2), 103);
}

TEST(inline_function, moving_and_destroying_release_what_it_holds) {
  probe p;
  auto alive = p.alive;
  {
    fn f = p;
    EXPECT_EQ(alive.use_count(), 3);  // ours, p's, f's
    fn g = std::move(f);
    EXPECT_FALSE(f);
    EXPECT_EQ(alive.use_count(), 3);  // moved, not copied
    fn h;
    h = std::move(g);
    EXPECT_EQ(h(4), 4);
    h = nullptr;
    EXPECT_FALSE(h);
    EXPECT_EQ(alive.use_count(), 2);
  }
  EXPECT_EQ(alive.use_count(), 2);
}

TEST(inline_function, empty_stays_empty) {
  fn a;
  EXPECT_FALSE(a);
  fn b = nullptr;
  EXPECT_FALSE(b);
  std::function<int(int)> none;
  fn c = none;
  EXPECT_FALSE(c);
  int (*no_pointer)(int) = nullptr;
  fn d = no_pointer;
  EXPECT_FALSE(d);
  std::function<int(int)> some = [](int x) { return x * 2; };
  fn e = some;
  ASSERT_TRUE(e);
  EXPECT_EQ(e(21), 42);
}

TEST(inline_function, arguments_are_forwarded_as_declared) {
  inline_function<std::string(std::unique_ptr<std::string>)> f =
      [](std::unique_ptr<std::string> s) { return *s + "!"; };
  EXPECT_EQ(f(std::make_unique<std::string>("moved")), "moved!");
}
