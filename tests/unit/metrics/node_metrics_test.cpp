// The series of the node's own parts.

#include "runtime/metrics/node_metrics.hpp"

#include <gtest/gtest.h>

using namespace valmesh;

TEST(scrape_success, one_sample_per_collector_in_order) {
  std::string out;
  write_scrape_success(out, {{"catalog", false}, {"mesh", true}});
  EXPECT_EQ(out,
            "# HELP valmesh_scrape_collector_success Whether a part of the "
            "node answered this scrape (0: its series are missing from it)\n"
            "# TYPE valmesh_scrape_collector_success gauge\n"
            "valmesh_scrape_collector_success{collector=\"catalog\"} 0\n"
            "valmesh_scrape_collector_success{collector=\"mesh\"} 1\n");
}

TEST(scrape_success, nothing_without_collectors) {
  std::string out = "x 1\n";
  write_scrape_success(out, {});
  EXPECT_EQ(out, "x 1\n");
}
