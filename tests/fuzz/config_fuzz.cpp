// The config file (runtime/config): any bytes are refused with a message
// or give a config that passes validation again.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "runtime/config/config.hpp"

using namespace valmesh;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  // load_config_file's reading: invalid JSON is refused before parse_config.
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return 0;
  node_config base;
  base.node_name = "fuzz";
  auto cfg = parse_config(j, base);
  if (!cfg) {
    if (cfg.error().message.empty()) std::abort();
    return 0;
  }
  if (!validate_config(*cfg)) std::abort();
  for (auto& x : cfg->services)
    if (!validate_instance(x)) std::abort();
  // The listener addresses it gives must be ones the endpoint parser reads.
  if (!parse_endpoint(cfg->http.to_string())) std::abort();
  return 0;
}
