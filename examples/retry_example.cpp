// The retry utility, as the original system used `retry(fn, {maxRetries,
// retryDelay, backoffStrategy, retryable})`: an operation that fails twice
// with a retryable error and then succeeds.
//
//   ./build/examples/retry_example
//
// It prints each retry with its wait and exits 0.

#include <iostream>

#include "runtime/mesh/retry.hpp"

using namespace valmesh;
using namespace std::chrono_literals;

int main() {
  int attempts = 0;
  retry_options options;
  options.max_retries = 3;                                 // maxRetries
  options.backoff = {backoff_kind::exponential, 50ms, 1s,  // backoffStrategy,
                     jitter_kind::full};      // retryDelay, maxDelay
  options.timeout = 5s;                       // over all attempts
  options.retryable = [](const failure& f) {  // retryable
    return f.code == errc::unavailable;       // ECONNREFUSED-like
  };
  options.on_retry = [](uint32_t n, const failure& f, clock::duration wait) {
    std::cout
        << "retry " << n << " after '" << f.message << "', waiting "
        << std::chrono::duration_cast<std::chrono::milliseconds>(wait).count()
        << "ms\n";
  };
  auto result = retry<std::string>(
      [&]() -> expected<std::string> {
        if (++attempts < 3)
          return failure{errc::unavailable, "connection refused"};
        return std::string{"pong"};
      },
      options);
  if (!result) {
    std::cerr << "gave up: " << result.error().message << "\n";
    return 1;
  }
  std::cout << "got '" << *result << "' after " << attempts << " attempts\n";
  return 0;
}
