#include "actors/protocol.hpp"

namespace valmesh {

caf::error make_error(errc code, std::string message) {
  return caf::error{static_cast<uint8_t>(code), errc_category,
                    caf::make_message(std::move(message))};
}

caf::error make_error(failure f) {
  return make_error(f.code, std::move(f.message));
}

failure to_failure(const caf::error& err) {
  if (err.category() == errc_category) {
    failure f{static_cast<errc>(err.code()), {}};
    auto& ctx = err.context();
    if (ctx.match_elements<std::string>())
      f.message = ctx.get_as<std::string>(0);
    return f;
  }
  if (err.category() == caf::atom("system")) {
    auto code = static_cast<caf::sec>(err.code());
    if (code == caf::sec::request_timeout)
      return {errc::unavailable, "the node did not answer in time; retry"};
    return {errc::unavailable,
            "the node is recovering (" + caf::to_string(code) + "); retry"};
  }
  return {errc::internal, "internal error"};
}

void add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<resolve_options>("resolve_options");
  cfg.add_message_type<service_instance>("service_instance");
  cfg.add_message_type<service_summary>("service_summary");
  cfg.add_message_type<std::vector<service_instance>>(
      "std::vector<service_instance>");
  cfg.add_message_type<std::vector<service_summary>>(
      "std::vector<service_summary>");
  // The cluster: every node registers the same types under the same names
  // (a type a receiver does not know is dropped without a word).
  cfg.add_message_type<write_version>("write_version");
  cfg.add_message_type<catalog_entry>("catalog_entry");
  cfg.add_message_type<std::vector<catalog_entry>>(
      "std::vector<catalog_entry>");
  cfg.add_message_type<catalog_digest>("catalog_digest");
  cfg.add_message_type<std::vector<uint32_t>>("std::vector<uint32_t>");
  cfg.add_message_type<member>("member");
  cfg.add_message_type<std::vector<member>>("std::vector<member>");
  cfg.add_error_category(errc_category, [](uint8_t code, caf::atom_value,
                                           const caf::message& ctx) {
    std::string result = "valmesh: ";
    result += to_string(static_cast<errc>(code));
    if (ctx.match_elements<std::string>()) {
      result += " (";
      result += ctx.get_as<std::string>(0);
      result += ")";
    }
    return result;
  });
}

}  // namespace valmesh
