// Writes the binary seeds of the store and cluster fuzzers into the corpus
// dirs given as arguments (see tests/fuzz/README.md): real records, files
// and messages, as a node writes and sends them.
//
//   fuzz_make_seeds tests/fuzz/corpus

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/protocol.hpp"
#include "runtime/store/durable_store.hpp"
#include "runtime/store/store_format.hpp"

using namespace valmesh;
namespace fs = std::filesystem;

namespace {

struct config : caf::actor_system_config {
  config() {
    valmesh::add_message_types(*this);
    load<caf::io::middleman>();
  }
};

void write(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream{p, std::ios::binary} << bytes;
}

service_instance sample(int i) {
  service_instance x;
  x.name = "orders";
  x.id = "orders-" + std::to_string(i);
  x.version = "1.4.2";
  x.host = "127.0.0.1";
  x.port = static_cast<uint16_t>(7000 + i);
  x.tags = {"a", "b"};
  x.metadata = {{"zone", "eu"}};
  x.ttl_ms = 30000;
  x.node = "node-a";
  x.revision = {1'700'000'000'000ull << 16, "node-a"};
  return x;
}

member sample_member(const std::string& name, member_status s) {
  member m;
  m.name = name;
  m.cluster_addr = "127.0.0.1:8711";
  m.http_addr = "127.0.0.1:8710";
  m.version = "0.1.0";
  m.incarnation = 3;
  m.status = s;
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  fs::path root{argv[1]};
  namespace sf = store_format;
  // Store records: payloads (first byte 0: decode), and files (first byte
  // 1: a log, 3: a snapshot).
  std::vector<store_mutation> ms{
      store_mutation::put(sample(1)),
      store_mutation::bury(tombstone{"orders",
                                     "orders-2",
                                     "node-a",
                                     7,
                                     {42, "node-b"},
                                     1'700'000'000'000}),
      store_mutation::forget("orders", "orders-3"),
      store_mutation::remove("orders", "orders-4", 9),
      store_mutation::mark_index(12)};
  std::string log = sf::header(sf::file_kind::log);
  std::string snapshot = sf::header(sf::file_kind::snapshot);
  for (size_t i = 0; i < ms.size(); ++i) {
    std::string payload;
    sf::encode(ms[i], payload);
    write(root / "store_record_fuzz" / ("payload-" + std::to_string(i)),
          std::string(1, '\0') + payload);
    sf::append_record(ms[i], log);
    if (i == 0 || i == 4) sf::append_record(ms[i], snapshot);
  }
  write(root / "store_record_fuzz" / "log", std::string(1, '\1') + log);
  write(root / "store_record_fuzz" / "snapshot",
        std::string(1, '\3') + snapshot);
  write(root / "store_record_fuzz" / "log-torn",
        std::string(1, '\1') + log.substr(0, log.size() - 5));
  // Recovery: byte 0 the files (1 snapshot, 2 log, 4 log-1 instead of
  // log-2), bytes 1-2 the snapshot's length, then snapshot and log.
  auto files = [&](char which, const std::string& snap, const std::string& lg) {
    std::string s(1, which);
    s += static_cast<char>(snap.size() >> 8);
    s += static_cast<char>(snap.size() & 0xff);
    return s + snap + lg;
  };
  write(root / "store_recovery_fuzz" / "snapshot-and-log",
        files(3, snapshot, log));
  write(root / "store_recovery_fuzz" / "log-only", files(6, "", log));
  write(root / "store_recovery_fuzz" / "torn-log",
        files(3, snapshot, log.substr(0, log.size() - 3)));
  // Cluster messages, serialized as the middleman does.
  config cfg;
  caf::actor_system sys{cfg};
  catalog_digest digest;
  digest.buckets[7] = 0x1234;
  std::vector<std::pair<std::string, caf::message>> msgs{
      {"ping", caf::make_message(ping_atom::value, std::string{"node-b"})},
      {"ping_req",
       caf::make_message(ping_req_atom::value, std::string{"node-c"})},
      {"gossip",
       caf::make_message(gossip_atom::value,
                         std::vector<member>{
                             sample_member("node-b", member_status::alive),
                             sample_member("node-c", member_status::suspect)})},
      {"sync", caf::make_message(sync_atom::value,
                                 std::vector<member>{sample_member(
                                     "node-a", member_status::dead)})},
      {"join",
       caf::make_message(join_atom::value,
                         sample_member("node-d", member_status::alive))},
      {"digest", caf::make_message(digest_atom::value, digest)},
      {"entries-ask", caf::make_message(entries_atom::value,
                                        std::vector<uint32_t>{1, 7, 255})},
      {"push",
       caf::make_message(push_atom::value,
                         std::vector<catalog_entry>{{sample(1), false},
                                                    deletion_of(sample(2))})},
      {"instance", caf::make_message(sample(5))},
  };
  for (auto& [name, msg] : msgs) {
    std::vector<char> bytes;
    caf::binary_serializer sink{sys, bytes};
    if (auto err = sink(msg)) {
      std::fprintf(stderr, "cannot serialize %s\n", name.c_str());
      return 1;
    }
    write(root / "cluster_message_fuzz" / name,
          std::string{bytes.begin(), bytes.end()});
  }
  return 0;
}
