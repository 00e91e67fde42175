#include "runtime/common/error.hpp"

namespace valmesh {

std::string_view to_string(errc x) noexcept {
  switch (x) {
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::unauthorized:
      return "unauthorized";
    case errc::forbidden:
      return "forbidden";
    case errc::not_found:
      return "not_found";
    case errc::method_not_allowed:
      return "method_not_allowed";
    case errc::conflict:
      return "conflict";
    case errc::payload_too_large:
      return "payload_too_large";
    case errc::header_too_large:
      return "header_too_large";
    case errc::no_healthy_instance:
      return "no_healthy_instance";
    case errc::unavailable:
      return "unavailable";
    case errc::timeout:
      return "timeout";
    case errc::bad_gateway:
      return "bad_gateway";
    case errc::internal:
      return "internal";
    case errc::bulkhead_full:
      return "bulkhead_full";
    case errc::circuit_open:
      return "circuit_open";
    case errc::deadline_exceeded:
      return "deadline_exceeded";
  }
  return "internal";
}

}  // namespace valmesh
