#include "actors/message_guard.hpp"

#include <dlfcn.h>

#include <atomic>
#include <bit>
#include <exception>

#include <spdlog/spdlog.h>
#include <caf/deserializer.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace valmesh {

namespace {

constexpr const char* load_symbol = "_ZN3caf7message4loadERNS_12deserializerE";

/// CAF's `message::load`, as a function taking `this` first: the Itanium
/// C++ ABI passes a member function's `this` as its first argument.
using load_function = caf::error (*)(caf::message*, caf::deserializer&);

load_function caf_load() {
  static const auto fn =
      reinterpret_cast<load_function>(dlsym(RTLD_NEXT, load_symbol));
  return fn;
}

std::atomic<uint64_t> dropped{0};

}  // namespace

bool message_guard_active() {
  auto bound = dlsym(RTLD_DEFAULT, load_symbol);
  return caf_load() != nullptr && bound != nullptr &&
         bound != reinterpret_cast<void*>(caf_load());
}

uint64_t malformed_messages_dropped() {
  return dropped.load(std::memory_order_relaxed);
}

}  // namespace valmesh

caf::error caf::message::load(caf::deserializer& source) {
  auto fn = valmesh::caf_load();
  if (fn == nullptr)
    return caf::make_error(caf::sec::runtime_error,
                           "libcaf_core's message::load was not found");
  try {
    return fn(this, source);
  } catch (const std::exception& e) {
    // A log line at the 1st, 2nd, 4th, 8th... drop: a flood of bad
    // messages cannot flood the log.
    auto n = valmesh::dropped.fetch_add(1, std::memory_order_relaxed) + 1;
    if (std::has_single_bit(n))
      spdlog::warn(
          "cluster: dropped a message CAF could not deserialize ({}); {} "
          "so far",
          e.what(), n);
    return caf::make_error(caf::sec::malformed_basp_message, e.what());
  }
}
