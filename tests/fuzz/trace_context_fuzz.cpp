// W3C trace context headers (runtime/tracing/trace_context): `traceparent`
// and `tracestate` as a client sends them. The first byte picks the header;
// whatever parses must format back to a value that parses to the same.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "runtime/tracing/trace_context.hpp"

using namespace valmesh;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text{reinterpret_cast<const char*>(data) + 1, size - 1};
  if (data[0] & 1) {
    auto ctx = parse_traceparent(text);
    if (!ctx) return 0;
    if (!ctx->valid()) std::abort();
    // Flags other than `sampled` are written as zero (W3C §3.2.2.5: vendors
    // set the reserved bits to zero), so only those bits may differ.
    auto again = parse_traceparent(format_traceparent(*ctx));
    auto sent = *ctx;
    sent.flags &= trace_flag_sampled;
    if (!again || !(*again == sent)) std::abort();
    // The id parsers on their own, strict (lower-case) and lenient.
    (void)trace_id::from_hex(text.substr(0, 32), data[0] & 2);
    (void)span_id::from_hex(text.substr(0, 16), data[0] & 2);
    return 0;
  }
  auto state = trace_state::parse(text);
  if (!state) return 0;
  if (state->members().size() > trace_state::max_members) std::abort();
  for (auto& [k, v] : state->members())
    if (!trace_state::valid_key(k) || !trace_state::valid_value(v))
      std::abort();
  auto again = trace_state::parse(state->to_string());
  if (!again || again->members() != state->members()) std::abort();
  // put() keeps the list within its bounds.
  auto copy = *state;
  copy.put("valmesh", "00f067aa0ba902b7");
  if (copy.members().size() > trace_state::max_members) std::abort();
  return 0;
}
