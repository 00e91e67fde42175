#include "runtime/tracing/sampler.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace valmesh {

sampler::sampler(kind k, double p) : kind_(k), ratio_(p) {
  if (!(ratio_ >= 0.0)) ratio_ = 0.0;  // NaN too
  if (ratio_ > 1.0) ratio_ = 1.0;
  all_ = ratio_ >= 1.0;
  // 2^64 × P, computed without overflow; P < 1 here.
  threshold_ = all_ ? 0 : static_cast<uint64_t>(std::ldexp(ratio_, 64));
}

expected<sampler> sampler::parse(std::string_view text) {
  auto bad = [&](std::string why) {
    return failure{errc::invalid_argument,
                   "'" + std::string{text} + "' is not a sampler: " + why};
  };
  auto read_ratio = [&](std::string_view p) -> std::optional<double> {
    double x = -1;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), x);
    if (ec != std::errc{} || end != p.data() + p.size() || !(x >= 0.0) ||
        x > 1.0)
      return std::nullopt;
    return x;
  };
  if (text == "always") return always();
  if (text == "never") return never();
  if (text == "parent-based") return parent_based();
  constexpr std::string_view ratio_prefix = "ratio:";
  constexpr std::string_view parent_prefix = "parent-based:";
  if (text.substr(0, ratio_prefix.size()) == ratio_prefix) {
    auto p = read_ratio(text.substr(ratio_prefix.size()));
    if (!p) return bad("the ratio must be a number from 0 to 1");
    return ratio(*p);
  }
  if (text.substr(0, parent_prefix.size()) == parent_prefix) {
    auto p = read_ratio(text.substr(parent_prefix.size()));
    if (!p) return bad("the ratio must be a number from 0 to 1");
    return parent_based(*p);
  }
  return bad(
      "use always, never, ratio:P, parent-based or parent-based:P (P in "
      "0..1)");
}

std::string sampler::to_string() const {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", ratio_);
  switch (kind_) {
    case kind::always:
      return "always";
    case kind::never:
      return "never";
    case kind::ratio:
      return std::string{"ratio:"} + buf;
    case kind::parent_based:
      return all_ ? "parent-based" : std::string{"parent-based:"} + buf;
  }
  return "?";
}

}  // namespace valmesh
