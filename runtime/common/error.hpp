#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace valmesh {

/// The project's error codes. Actors answer them inside a `caf::error`
/// (category "valmesh"); `http/` maps each to one HTTP status in one place
/// (`status_of` in http/server.cpp). Their names are the `error.code` strings
/// of the API's errors (docs/API.md).
enum class errc : uint8_t {
  invalid_argument = 1,  ///< 400: malformed or invalid input
  unauthorized,          ///< 401: no credentials where they are required
  forbidden,             ///< 403: wrong credentials
  not_found,             ///< 404: no such service, instance or path
  method_not_allowed,    ///< 405
  conflict,              ///< 409: the request contradicts current state
  payload_too_large,     ///< 413
  header_too_large,      ///< 431
  no_healthy_instance,   ///< 503: nothing to route to
  unavailable,           ///< 503: the node cannot serve this now (retryable)
  timeout,               ///< 504: a deadline passed
  bad_gateway,           ///< 502: the upstream failed
  internal,              ///< 500: a bug; never a stack trace
  bulkhead_full,         ///< 503: the service's bulkhead has no permit
  circuit_open,          ///< 503: every healthy instance's breaker is open
  deadline_exceeded,     ///< 504: a mesh call's overall deadline passed
};

/// Returns the snake_case name of `x`, as it appears in JSON errors.
std::string_view to_string(errc x) noexcept;

/// An error code with a message for humans.
struct failure {
  errc code = errc::internal;
  std::string message;
};

/// Either a value or a `failure`. The plain classes in runtime/ return this
/// instead of throwing (no CAF in runtime/, so no `caf::expected` either).
template <class T>
class expected {
 public:
  // A value is taken by reference, not by value: a result handed on is
  // then moved once, not twice.
  expected(const T& value) : v_(std::in_place_index<0>, value) {}
  expected(T&& value) : v_(std::in_place_index<0>, std::move(value)) {}
  expected(failure f) : v_(std::in_place_index<1>, std::move(f)) {}
  expected(errc code, std::string message)
      : v_(failure{code, std::move(message)}) {}

  explicit operator bool() const noexcept { return v_.index() == 0; }
  bool has_value() const noexcept { return v_.index() == 0; }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const failure& error() const& { return std::get<1>(v_); }
  failure&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, failure> v_;
};

}  // namespace valmesh
