#pragma once

// Readers of config values shared by the config file's sections: each
// checks one JSON value and names the key in its failure.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "runtime/common/duration.hpp"
#include "runtime/common/error.hpp"

namespace valmesh::config_read {

using json = nlohmann::json;

inline failure bad(const std::string& key, const std::string& what) {
  return failure{errc::invalid_argument, "config key '" + key + "': " + what};
}

inline std::optional<failure> read_duration(const json& v,
                                            const std::string& key,
                                            std::chrono::milliseconds& out) {
  if (!v.is_string()) return bad(key, "must be a duration like \"5s\"");
  auto d = parse_duration(v.get_ref<const std::string&>());
  if (!d)
    return bad(key, "'" + v.get<std::string>() +
                        "' is not a duration (use 250ms, 5s, 2m, 1h)");
  out = *d;
  return std::nullopt;
}

inline std::optional<failure> read_string(const json& v, const std::string& key,
                                          std::string& out) {
  if (!v.is_string()) return bad(key, "must be a string");
  out = v.get<std::string>();
  return std::nullopt;
}

inline std::optional<failure> read_bool(const json& v, const std::string& key,
                                        bool& out) {
  if (!v.is_boolean()) return bad(key, "must be true or false");
  out = v.get<bool>();
  return std::nullopt;
}

template <class T>
inline std::optional<failure> read_uint(const json& v, const std::string& key,
                                        uint64_t lo, uint64_t hi, T& out) {
  if (!v.is_number_unsigned() &&
      !(v.is_number_integer() && v.get<int64_t>() >= 0))
    return bad(key, "must be a whole number");
  auto n = v.get<uint64_t>();
  if (n < lo || n > hi)
    return bad(key, "must be between " + std::to_string(lo) + " and " +
                        std::to_string(hi));
  out = static_cast<T>(n);
  return std::nullopt;
}

}  // namespace valmesh::config_read
