#pragma once

// Reading a node's /metrics in tests: one scrape, and one sample of it.

#include <string>

#include <gtest/gtest.h>

#include "tests/support/process.hpp"

namespace valmesh::test {

/// The value of the sample `series` (name and labels as printed), or -1 if
/// absent. `text` starts with a newline (as `scrape` returns it).
inline double sample(const std::string& text, const std::string& series) {
  auto at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

/// `GET /metrics` of `a`, with a newline in front so that every sample
/// starts after one.
inline std::string scrape(const agent& a) {
  auto r = http(a.http(), "GET", "/metrics");
  EXPECT_EQ(r.status, 200u);
  return "\n" + r.body;
}

}  // namespace valmesh::test
