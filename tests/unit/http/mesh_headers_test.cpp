#include "http/mesh.hpp"

#include <gtest/gtest.h>

using namespace valmesh;

TEST(mesh_headers, hop_by_hop_headers_and_correlation_ids) {
  for (auto h :
       {"Connection", "keep-alive", "TE", "Trailer", "Transfer-Encoding",
        "Upgrade", "Proxy-Authorization", "proxy-connection"})
    EXPECT_TRUE(web::is_hop_by_hop(h)) << h;
  for (auto h : {"Host", "X-Correlation-ID", "Content-Type", "Proxy"})
    EXPECT_FALSE(web::is_hop_by_hop(h)) << h;
  auto id = web::make_correlation_id();
  EXPECT_EQ(id.size(), 32u);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(id, web::make_correlation_id());
}
