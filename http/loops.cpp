#include "http/loops.hpp"

namespace valmesh::web {

namespace {

thread_local int current_loop = -1;

}  // namespace

int this_thread_loop() noexcept {
  return current_loop;
}

void set_this_thread_loop(int index) noexcept {
  current_loop = index;
}

}  // namespace valmesh::web
