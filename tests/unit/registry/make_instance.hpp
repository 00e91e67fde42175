#pragma once

// The instance the catalog tests register: a name, an id, a port on
// loopback, and a lease when `ttl_ms` is set.

#include <cstdint>
#include <string>

#include "runtime/registry/service_instance.hpp"

namespace valmesh::test {

inline service_instance make(std::string name, std::string id, uint16_t port,
                             int64_t ttl_ms = 0) {
  service_instance x;
  x.name = std::move(name);
  x.id = std::move(id);
  x.host = "127.0.0.1";
  x.port = port;
  x.ttl_ms = ttl_ms;
  return x;
}

}  // namespace valmesh::test
