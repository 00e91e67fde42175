// Embeds a valmesh node, registers two instances through the C++ API, and
// then discovers them twice: in process (valmesh::node) and over HTTP
// (valmesh::registry_client), the way the original system called
// `register({...})` and `getService(name, {healthyOnly, strategy})`.
//
//   ./build/examples/registry_example
//
// It listens on ephemeral loopback ports and exits 0 when every step worked.

#include <iostream>

#include "http/registry_client.hpp"
#include "runtime/common/logging.hpp"
#include "node/node.hpp"

using namespace valmesh;

int main() {
  setup_logging("warn", "text");
  auto cfg = default_config();
  cfg.http = {"127.0.0.1", 0};
  cfg.cluster = {"127.0.0.1", 0};
  cfg.dev = true;
  node n{cfg};
  if (auto err = n.start()) {
    std::cerr << "cannot start the node: " << err->message << "\n";
    return 1;
  }

  // globalServiceRegistry.register({ name, version, host, port, ... })
  service_instance orders;
  orders.name = "orders";
  orders.version = "1.0.0";
  orders.host = "127.0.0.1";
  orders.port = 6000;
  for (uint16_t port : {6000, 6001}) {
    orders.id = "orders-" + std::to_string(port);
    orders.port = port;
    auto stored = n.register_service(orders);
    if (!stored) {
      std::cerr << "register failed: " << stored.error().message << "\n";
      return 1;
    }
    std::cout << "registered " << stored->id << "\n";
  }

  // getService('orders', { healthyOnly: false, strategy: 'round-robin' })
  for (int i = 0; i < 2; ++i) {
    auto x = n.get_service("orders", {lb_strategy::round_robin, false});
    if (!x) return 1;
    std::cout << "in process: " << x->id << " at " << x->host << ":" << x->port
              << "\n";
  }

  // The same over HTTP, as another program would.
  registry_client client{{"127.0.0.1", n.http_port()}};
  for (int i = 0; i < 2; ++i) {
    auto x = client.get_service("orders", {lb_strategy::round_robin, false});
    if (!x) {
      std::cerr << "get_service failed: " << x.error().message << "\n";
      return 1;
    }
    std::cout << "over HTTP: " << x->id << " at " << x->host << ":" << x->port
              << "\n";
  }

  // healthyOnly: nothing has passed a check yet, so nothing qualifies.
  auto healthy = client.get_service("orders", {lb_strategy::random, true});
  std::cout << "healthy only: "
            << (healthy ? healthy->id
                        : std::string{to_string(healthy.error().code)})
            << "\n";
  n.stop();
  return healthy ? 1 : 0;
}
