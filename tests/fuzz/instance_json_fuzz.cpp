// The instance JSON of `POST /api/services` and of the config's `services`
// (runtime/registry/service_instance): any bytes are either refused with a
// failure or give an instance that validates, renders, and reads back the
// same through both readers.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "runtime/registry/service_instance.hpp"

using namespace valmesh;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  // As the API does: a body that is not JSON is refused before this.
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return 0;
  (void)parse_stored_instance(j);
  auto x = parse_instance(j);
  if (!x) {
    if (x.error().message.empty()) std::abort();
    return 0;
  }
  if (!validate_instance(*x)) std::abort();
  auto rendered = to_json(*x);
  // What the API renders, a client can post back.
  auto back = parse_instance(rendered);
  if (!back) std::abort();
  if (to_json(*back) != rendered) std::abort();
  auto stored = parse_stored_instance(rendered);
  if (!stored) std::abort();
  (void)rendered.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return 0;
}
