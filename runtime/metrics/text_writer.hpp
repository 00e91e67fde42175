#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "runtime/metrics/histogram.hpp"

namespace valmesh {

/// Writes families of samples in the text format.
class text_writer {
 public:
  explicit text_writer(std::string& out) : out_(out) {}

  void family(std::string_view name, std::string_view type,
              std::string_view help) {
    out_.append("# HELP ").append(name).append(1, ' ').append(help);
    out_.append("\n# TYPE ").append(name).append(1, ' ').append(type);
    out_.append(1, '\n');
  }

  /// `labels` is the inside of the braces, already escaped (may be empty).
  void sample(std::string_view name, std::string_view labels, double v) {
    out_.append(name);
    if (!labels.empty()) out_.append(1, '{').append(labels).append(1, '}');
    out_.append(1, ' ');
    number(v);
    out_.append(1, '\n');
  }

  void sample(std::string_view name, std::string_view labels, uint64_t v) {
    out_.append(name);
    if (!labels.empty()) out_.append(1, '{').append(labels).append(1, '}');
    out_.append(1, ' ').append(std::to_string(v)).append(1, '\n');
  }

  /// A family of one unlabelled sample.
  void single(std::string_view name, std::string_view type,
              std::string_view help, uint64_t v) {
    family(name, type, help);
    sample(name, {}, v);
  }

  void histogram(const std::string& name, std::string_view labels,
                 const latency_histogram& h) {
    static const auto les = [] {
      std::array<std::string, latency_histogram::bucket_count> xs;
      for (size_t i = 0; i < latency_histogram::finite_buckets; ++i) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "%g", latency_histogram::bounds()[i]);
        xs[i] = std::string{"le=\""} + buf + "\"";
      }
      xs.back() = "le=\"+Inf\"";
      return xs;
    }();
    uint64_t cumulative = 0;
    auto bucket = name + "_bucket{";
    for (size_t i = 0; i < latency_histogram::bucket_count; ++i) {
      cumulative += h.buckets()[i];
      out_.append(bucket);
      if (!labels.empty()) out_.append(labels).append(1, ',');
      out_.append(les[i]).append("} ").append(std::to_string(cumulative));
      out_.append(1, '\n');
    }
    sample(name + "_sum", labels, h.sum());
    sample(name + "_count", labels, h.count());
  }

 private:
  void number(double v) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    out_.append(buf);
  }

  std::string& out_;
};

}  // namespace valmesh
