// Recovery of a data dir (runtime/store/durable_store) from arbitrary
// bytes: a snapshot and a log file holding the input are opened as a node
// opens its data dir after a crash. Opening either fails with a failure
// (not valmesh's file) or recovers; a recovered store takes a write and
// reopens to the same contents.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "runtime/store/durable_store.hpp"
#include "runtime/store/store_format.hpp"

using namespace valmesh;
namespace fs = std::filesystem;

namespace {

/// A scratch dir, on tmpfs when there is one (fsync is then free).
const fs::path& scratch() {
  static const fs::path dir = [] {
    fs::path base =
        fs::is_directory("/dev/shm") ? "/dev/shm" : fs::temp_directory_path();
    auto d = base / ("valmesh-store-fuzz-" + std::to_string(::getpid()));
    fs::create_directories(d);
    // Removed when the run ends (libFuzzer ends with exit()); the path is
    // kept apart from this static, which is destroyed first.
    static const auto* kept = new fs::path{d};
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(*kept, ec);
    });
    return d;
  }();
  return dir;
}

void write_file(const fs::path& p, std::string_view bytes) {
  std::ofstream out{p, std::ios::binary | std::ios::trunc};
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

nlohmann::json dump(const store_contents& c) {
  nlohmann::json j = nlohmann::json::array();
  for (auto& x : c.instances) j.push_back(to_json(x));
  for (auto& t : c.tombstones) j.push_back({t.name, t.id, t.node});
  j.push_back(c.index);
  return j;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  // data[0]: which files exist; data[1..2]: the snapshot's share of the rest.
  size_t split = (static_cast<size_t>(data[1]) << 8) | data[2];
  std::string_view rest{reinterpret_cast<const char*>(data) + 3, size - 3};
  split = std::min(split, rest.size());
  auto dir = scratch() / "data";
  fs::remove_all(dir);
  fs::create_directories(dir);
  if (data[0] & 1)
    write_file(dir / durable_store::snapshot_name(1), rest.substr(0, split));
  if (data[0] & 2)
    write_file(dir / durable_store::log_name(data[0] & 4 ? 1 : 2),
               rest.substr(split));
  durable_store_options opts;
  opts.dir = dir.string();
  nlohmann::json before;
  {
    auto store = durable_store::open(opts);
    if (!store) {
      if (store.error().message.empty()) std::abort();
      return 0;
    }
    auto& s = **store;
    service_instance x;
    x.name = "fuzz";
    x.id = "fuzz-1";
    x.host = "127.0.0.1";
    x.port = 7000;
    s.append(store_mutation::put(x));
    if (s.sync()) return 0;  // an I/O error: nothing more to check
    before = dump(s.contents());
  }
  auto again = durable_store::open(opts);
  if (!again) std::abort();  // what recovery left must open again
  if (dump((*again)->contents()) != before) std::abort();
  return 0;
}
