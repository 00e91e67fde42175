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

TEST(mesh_headers, every_kind_is_told_apart_whatever_the_case) {
  using k = web::header_kind;
  std::vector<std::pair<const char*, k>> cases{
      {"te", k::hop_by_hop},
      {"Trailer", k::hop_by_hop},
      {"UPGRADE", k::hop_by_hop},
      {"Keep-Alive", k::hop_by_hop},
      {"Transfer-Encoding", k::transfer_encoding},
      {"Proxy-Authorization", k::hop_by_hop},
      {"Connection", k::connection},
      {"content-length", k::content_length},
      {"Host", k::host},
      {"X-Correlation-Id", k::x_correlation_id},
      {"x-forwarded-for", k::x_forwarded_for},
      {"X-Forwarded-Host", k::x_forwarded_host},
      {"X-Valmesh-Timeout-Ms", k::x_valmesh_timeout_ms},
      {"x-valmesh-retries", k::x_valmesh_retries},
      {"X-Valmesh-Attempts", k::x_valmesh_attempts},
      {"x-valmesh-instance", k::x_valmesh_instance},
      {"traceparent", k::traceparent},
      {"TraceState", k::tracestate},
      // Same lengths as the names above, other names.
      {"tx", k::other},
      {"Date", k::other},
      {"Accept-Language", k::other},
      {"Content-Location", k::other},
      {"Proxy", k::other},
      {"", k::other},
  };
  for (auto& [name, kind] : cases)
    EXPECT_EQ(web::classify_header(name), kind) << name;
}
