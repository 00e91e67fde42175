// The store's plain logic on real files in a temporary dir: the record format,
// group commit, recovery from torn and corrupt tails at every byte, snapshot
// and compaction, the files a crash leaves at each step of a compaction, the
// lock, and the in-memory variant of --dev.

#include "runtime/store/durable_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include <gtest/gtest.h>

#include "runtime/registry/catalog.hpp"
#include "runtime/store/store_format.hpp"

using namespace valmesh;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

/// A fresh directory under /tmp, removed with everything in it.
struct temp_dir {
  temp_dir() {
    char tmpl[] = "/tmp/valmesh-store-test.XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const {
    return (fs::path{path} / name).string();
  }
  std::string path;
};

std::string read_bytes(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, {}};
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out << bytes;
}

std::set<std::string> files_of(const std::string& dir) {
  std::set<std::string> names;
  for (auto& e : fs::directory_iterator{dir})
    names.insert(e.path().filename().string());
  return names;
}

service_instance make(std::string id, uint16_t port) {
  service_instance x;
  x.name = "orders";
  x.id = std::move(id);
  x.host = "127.0.0.1";
  x.port = port;
  x.version = "1.4.2";
  x.tags = {"a", "b"};
  x.metadata = {{"k", "v"}, {"zone", "eu-1"}};
  x.ttl_ms = 30'000;
  x.registered_at_ms = 1'700'000'000'123;
  x.node = "node-a";
  x.create_index = port;
  x.modify_index = port;
  return x;
}

std::vector<std::string> ids_of(const store_contents& c) {
  std::vector<std::string> ids;
  for (auto& x : c.instances) ids.push_back(x.id);
  return ids;
}

std::unique_ptr<durable_store> open_store(const temp_dir& dir,
                                          uint64_t compact_min_bytes = 1
                                                                       << 30) {
  durable_store_options opts;
  opts.dir = dir.path;
  opts.compact_min_bytes = compact_min_bytes;
  auto s = durable_store::open(opts);
  if (!s) {
    ADD_FAILURE() << s.error().message;
    return nullptr;
  }
  return std::move(*s);
}

}  // namespace

// -- format -------------------------------------------------------------------

TEST(store_format, crc32c_is_castagnoli) {
  // The check value of CRC-32C (RFC 3720, appendix B.4).
  EXPECT_EQ(store_format::crc32c("123456789"), 0xE3069283u);
}

TEST(store_format, round_trips_the_persisted_fields_only) {
  auto x = make("orders-1", 6000);
  x.status = health_status::passing;  // persisted: replicas keep a judge's word
  x.revision =
      write_version{hybrid_clock::make(1'700'000'000'000, 3), "node-a"};
  x.last_heartbeat_ms = 5;
  x.last_check_ms = 6;
  x.last_check_output = "HTTP 200";
  x.active_requests = 3;
  std::string bytes;
  store_format::encode(store_mutation::put(x), bytes);
  auto m = store_format::decode(bytes);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->what, store_mutation::kind::put);
  auto expected = make("orders-1", 6000);
  expected.status = health_status::passing;
  expected.revision = x.revision;
  EXPECT_EQ(m->instance, expected);
  bytes.clear();
  store_format::encode(store_mutation::remove("orders", "orders-1", 42), bytes);
  m = store_format::decode(bytes);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->what, store_mutation::kind::remove_v1);
  EXPECT_EQ(m->instance.name, "orders");
  EXPECT_EQ(m->instance.id, "orders-1");
  EXPECT_EQ(m->index, 42u);
}

TEST(store_format, round_trips_tombstones_and_forgetting) {
  tombstone t{"orders",
              "orders-1",
              "node-a",
              42,
              write_version{hybrid_clock::make(1'700'000'000'000, 7), "node-b"},
              1'700'000'000'500};
  std::string bytes;
  store_format::encode(store_mutation::bury(t), bytes);
  auto m = store_format::decode(bytes);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->what, store_mutation::kind::bury);
  EXPECT_EQ(m->as_tombstone(), t);
  bytes.clear();
  store_format::encode(store_mutation::forget("orders", "orders-1"), bytes);
  m = store_format::decode(bytes);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->what, store_mutation::kind::forget);
  EXPECT_EQ(m->instance.id, "orders-1");
}

TEST(store_format, reads_puts_written_before_revisions) {
  // A data dir of an older valmesh holds put records of kind 1.
  store_mutation old;
  old.what = store_mutation::kind::put_v1;
  old.instance = make("orders-1", 6000);
  old.instance.status = health_status::passing;
  old.instance.revision = write_version{99, "x"};
  std::string bytes;
  store_format::encode(old, bytes);
  auto m = store_format::decode(bytes);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->what, store_mutation::kind::put_v1);
  EXPECT_EQ(m->instance, make("orders-1", 6000))
      << "no status, no revision: any replicated write supersedes it";
}

TEST(store_format, reads_puts_written_before_registrations_were_versioned) {
  store_mutation old;
  old.what = store_mutation::kind::put_v2;
  old.instance = make("orders-1", 6000);
  old.instance.status = health_status::passing;
  old.instance.revision = write_version{99, "x"};
  old.instance.registered = write_version{42, "y"};
  std::string bytes;
  store_format::encode(old, bytes);
  auto m = store_format::decode(bytes);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->what, store_mutation::kind::put_v2);
  EXPECT_EQ(m->instance.revision, (write_version{99, "x"}));
  EXPECT_EQ(m->instance.registered, write_version{})
      << "not in the record: the revision stands for it";
  // Today's records keep it.
  old.what = store_mutation::kind::put;
  bytes.clear();
  store_format::encode(old, bytes);
  m = store_format::decode(bytes);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->instance, old.instance);
}

TEST(durable_store, tombstones_survive_a_restart_and_a_compaction) {
  temp_dir tmp;
  tombstone t{"orders",
              "orders-1",
              "node-a",
              7,
              write_version{hybrid_clock::make(1'700'000'000'000, 1), "node-a"},
              1'700'000'000'000};
  {
    auto s = open_store(tmp);
    ASSERT_TRUE(s);
    s->append(store_mutation::put(make("orders-1", 6001)));
    s->append(store_mutation::put(make("orders-2", 6002)));
    s->append(store_mutation::bury(t));
    ASSERT_FALSE(s->sync());
  }
  {
    auto s = open_store(tmp);
    ASSERT_TRUE(s);
    auto c = s->contents();
    EXPECT_EQ(ids_of(c), std::vector<std::string>{"orders-2"});
    ASSERT_EQ(c.tombstones.size(), 1u);
    EXPECT_EQ(c.tombstones[0], t);
    ASSERT_FALSE(s->compact());
  }
  {
    auto s = open_store(tmp);
    ASSERT_TRUE(s);
    auto c = s->contents();
    ASSERT_EQ(c.tombstones.size(), 1u) << "the snapshot holds it";
    EXPECT_EQ(c.tombstones[0], t);
    // A new registration of the id replaces its tombstone; forgetting
    // drops one.
    s->append(store_mutation::put(make("orders-1", 6003)));
    s->append(store_mutation::bury(tombstone{"orders", "orders-2", "node-a", 8,
                                             t.revision, t.removed_at_ms}));
    s->append(store_mutation::forget("orders", "orders-2"));
    ASSERT_FALSE(s->sync());
  }
  auto s = open_store(tmp);
  ASSERT_TRUE(s);
  auto c = s->contents();
  EXPECT_EQ(ids_of(c), std::vector<std::string>{"orders-1"});
  EXPECT_TRUE(c.tombstones.empty());
}

TEST(store_format, rejects_every_truncated_payload) {
  std::string bytes;
  store_format::encode(store_mutation::put(make("orders-1", 6000)), bytes);
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_FALSE(store_format::decode(bytes.substr(0, n))) << "length " << n;
  EXPECT_FALSE(store_format::decode(bytes + "x"));  // trailing garbage
}

TEST(store_format, scan_stops_at_torn_and_corrupt_records) {
  std::string bytes = store_format::header(store_format::file_kind::log);
  store_format::append_record(store_mutation::put(make("a", 1)), bytes);
  auto first_end = bytes.size();
  store_format::append_record(store_mutation::put(make("b", 2)), bytes);
  size_t n = 0;
  auto count = [&](store_mutation&&) { ++n; };
  auto r = store_format::scan(bytes, store_format::header_size, count);
  EXPECT_EQ(r.stop, store_format::scan_stop::end);
  EXPECT_EQ(r.records, 2u);
  EXPECT_EQ(r.valid_end, bytes.size());
  r = store_format::scan(std::string_view{bytes}.substr(0, bytes.size() - 1),
                         store_format::header_size, count);
  EXPECT_EQ(r.stop, store_format::scan_stop::torn);
  EXPECT_EQ(r.valid_end, first_end);
  auto bad = bytes;
  bad[first_end + store_format::record_overhead + 2] ^= 0x40;
  r = store_format::scan(bad, store_format::header_size, count);
  EXPECT_EQ(r.stop, store_format::scan_stop::corrupt);
  EXPECT_EQ(r.valid_end, first_end);
}

// -- durable store
// --------------------------------------------------------------

TEST(durable_store, creates_the_dir_and_round_trips) {
  temp_dir tmp;
  auto dir = tmp / "nested/data";
  durable_store_options opts;
  opts.dir = dir;
  {
    auto s = durable_store::open(opts);
    ASSERT_TRUE(s) << s.error().message;
    (*s)->append(store_mutation::put(make("orders-1", 6001)));
    (*s)->append(store_mutation::put(make("orders-2", 6002)));
    (*s)->append(store_mutation::remove("orders", "orders-1", 7000));
    ASSERT_FALSE((*s)->sync());
  }
  EXPECT_EQ(files_of(dir),
            (std::set<std::string>{"LOCK", durable_store::log_name(1)}));
  auto s = durable_store::open(opts);
  ASSERT_TRUE(s) << s.error().message;
  auto c = (*s)->contents();
  ASSERT_EQ(ids_of(c), std::vector<std::string>{"orders-2"});
  EXPECT_EQ(c.instances[0], make("orders-2", 6002));
  EXPECT_EQ(c.index, 7000u);  // the removal's index survives too
  EXPECT_EQ((*s)->last_recovery().log_records, 3u);
  EXPECT_TRUE((*s)->last_recovery().warnings.empty());
}

TEST(durable_store, a_group_of_appends_shares_one_fsync) {
  temp_dir tmp;
  auto s = open_store(tmp);
  ASSERT_TRUE(s);
  for (uint16_t i = 1; i <= 50; ++i)
    s->append(store_mutation::put(make("orders-" + std::to_string(i), i)));
  EXPECT_TRUE(s->dirty());
  ASSERT_FALSE(s->sync());
  EXPECT_FALSE(s->dirty());
  EXPECT_EQ(s->stats().syncs, 1u);
  EXPECT_EQ(s->stats().appends, 50u);
  EXPECT_EQ(s->stats().log_records, 50u);
  EXPECT_EQ(s->stats().log_bytes,
            fs::file_size(tmp / durable_store::log_name(1)));
  s.reset();
  s = open_store(tmp);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->contents().instances.size(), 50u);
}

TEST(durable_store, appends_not_synced_are_not_durable) {
  temp_dir tmp;
  auto s = open_store(tmp);
  ASSERT_TRUE(s);
  s->append(store_mutation::put(make("orders-1", 1)));
  ASSERT_FALSE(s->sync());
  s->append(store_mutation::put(make("orders-2", 2)));
  EXPECT_EQ(s->contents().instances.size(), 2u);
  // A new owner of the backend (a restarted store actor) recovers: only
  // what was synced, i.e. acknowledged, is there.
  ASSERT_FALSE(s->recover());
  EXPECT_EQ(ids_of(s->contents()), std::vector<std::string>{"orders-1"});
}

TEST(durable_store, a_torn_last_record_at_every_byte_recovers_the_rest) {
  // Sizes of the log after the first two records and after the third.
  uint64_t before = 0, after = 0;
  {
    temp_dir tmp;
    auto s = open_store(tmp);
    ASSERT_TRUE(s);
    s->append(store_mutation::put(make("orders-1", 1)));
    s->append(store_mutation::put(make("orders-2", 2)));
    ASSERT_FALSE(s->sync());
    before = s->stats().log_bytes;
    s->append(store_mutation::put(make("orders-3", 3)));
    ASSERT_FALSE(s->sync());
    after = s->stats().log_bytes;
  }
  ASSERT_GT(after, before + store_format::record_overhead);
  for (auto cut = before + 1; cut < after; ++cut) {
    SCOPED_TRACE("log cut at byte " + std::to_string(cut));
    temp_dir tmp;
    auto s = open_store(tmp);
    ASSERT_TRUE(s);
    s->append(store_mutation::put(make("orders-1", 1)));
    s->append(store_mutation::put(make("orders-2", 2)));
    s->append(store_mutation::put(make("orders-3", 3)));
    ASSERT_FALSE(s->sync());
    s.reset();
    auto log = tmp / durable_store::log_name(1);
    ASSERT_EQ(::truncate(log.c_str(), static_cast<off_t>(cut)), 0);
    s = open_store(tmp);
    ASSERT_TRUE(s);
    EXPECT_EQ(ids_of(s->contents()),
              (std::vector<std::string>{"orders-1", "orders-2"}));
    EXPECT_EQ(s->last_recovery().cut_bytes, cut - before);
    ASSERT_EQ(s->last_recovery().warnings.size(), 1u);
    EXPECT_NE(s->last_recovery().warnings[0].find("cut"), std::string::npos);
    EXPECT_EQ(fs::file_size(log), before);  // the tail is gone from the file
    // The log goes on after the cut.
    s->append(store_mutation::put(make("orders-4", 4)));
    ASSERT_FALSE(s->sync());
    s.reset();
    s = open_store(tmp);
    ASSERT_TRUE(s);
    EXPECT_EQ(ids_of(s->contents()),
              (std::vector<std::string>{"orders-1", "orders-2", "orders-4"}));
    EXPECT_TRUE(s->last_recovery().warnings.empty());
  }
}

TEST(durable_store, a_corrupt_checksum_in_the_middle_cuts_the_rest) {
  temp_dir tmp;
  uint64_t first_end = 0;
  {
    auto s = open_store(tmp);
    ASSERT_TRUE(s);
    s->append(store_mutation::put(make("orders-1", 1)));
    ASSERT_FALSE(s->sync());
    first_end = s->stats().log_bytes;
    for (uint16_t i = 2; i <= 4; ++i)
      s->append(store_mutation::put(make("orders-" + std::to_string(i), i)));
    ASSERT_FALSE(s->sync());
  }
  auto log = tmp / durable_store::log_name(1);
  auto bytes = read_bytes(log);
  bytes[first_end + 4] ^= 0x01;  // the second record's checksum
  write_bytes(log, bytes);
  auto s = open_store(tmp);
  ASSERT_TRUE(s);
  EXPECT_EQ(ids_of(s->contents()), std::vector<std::string>{"orders-1"});
  EXPECT_EQ(s->last_recovery().cut_bytes, bytes.size() - first_end);
  ASSERT_EQ(s->last_recovery().warnings.size(), 1u);
  EXPECT_NE(s->last_recovery().warnings[0].find("corrupt"), std::string::npos);
  EXPECT_EQ(fs::file_size(log), first_end);
}

TEST(durable_store, a_torn_header_is_an_empty_log) {
  temp_dir tmp;
  write_bytes(tmp / durable_store::log_name(1),
              store_format::header(store_format::file_kind::log).substr(0, 5));
  auto s = open_store(tmp);
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->contents().instances.empty());
  s->append(store_mutation::put(make("orders-1", 1)));
  ASSERT_FALSE(s->sync());
  s.reset();
  s = open_store(tmp);
  ASSERT_TRUE(s);
  EXPECT_EQ(ids_of(s->contents()), std::vector<std::string>{"orders-1"});
}

TEST(durable_store, refuses_a_file_that_is_not_its_own) {
  temp_dir tmp;
  write_bytes(tmp / durable_store::log_name(1), "this is not a valmesh log");
  durable_store_options opts;
  opts.dir = tmp.path;
  auto s = durable_store::open(opts);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, errc::invalid_argument);
  EXPECT_NE(s.error().message.find("not a valmesh log"), std::string::npos);
}

TEST(durable_store, compaction_writes_a_snapshot_and_a_fresh_log) {
  temp_dir tmp;
  auto s = open_store(tmp, 1024);
  ASSERT_TRUE(s);
  std::set<std::string> live;
  for (int round = 0; round < 40; ++round) {
    for (uint16_t i = 0; i < 5; ++i) {
      auto id = "orders-" + std::to_string(i);
      auto x = make(id, static_cast<uint16_t>(round * 10 + i + 1));
      s->append(store_mutation::put(x));
      live.insert(id);
    }
    auto gone = "orders-" + std::to_string(round % 5);
    s->append(store_mutation::remove("orders", gone, 10'000 + round));
    live.erase(gone);
    ASSERT_FALSE(s->sync());
    if (s->compaction_due()) {
      ASSERT_FALSE(s->compact());
    }
  }
  auto st = s->stats();
  EXPECT_GE(st.compactions, 2u);
  EXPECT_LT(st.log_bytes, 1024u + 1024u);  // the log no longer grows forever
  auto before = s->contents();
  EXPECT_EQ(before.instances.size(), live.size());
  EXPECT_EQ(before.index, 10'039u);
  // One snapshot and the log after it; older files are gone.
  auto names = files_of(tmp.path);
  EXPECT_EQ(names.size(), 3u);
  EXPECT_EQ(names.count("LOCK"), 1u);
  s.reset();
  s = open_store(tmp, 1024);
  ASSERT_TRUE(s);
  auto after = s->contents();
  EXPECT_EQ(after.instances, before.instances);
  EXPECT_EQ(after.index, before.index);
  EXPECT_GT(s->last_recovery().snapshot_records, 0u);
}

/// The files of each step of a compaction from log-1: recovery must give the
/// same catalog whichever step the process died at.
class compaction_crash : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = open_store(src);
    ASSERT_TRUE(s);
    s->append(store_mutation::put(make("orders-1", 1)));
    s->append(store_mutation::put(make("orders-2", 2)));
    s->append(store_mutation::remove("orders", "orders-1", 900));
    ASSERT_FALSE(s->sync());
    log1 = read_bytes(src / durable_store::log_name(1));
    ASSERT_FALSE(s->compact());
    snapshot2 = read_bytes(src / durable_store::snapshot_name(2));
    s->append(store_mutation::put(make("orders-3", 3)));
    ASSERT_FALSE(s->sync());
    log2 = read_bytes(src / durable_store::log_name(2));
  }

  std::unique_ptr<durable_store> recover_from(
      std::vector<std::pair<std::string, std::string>> files) {
    for (auto& [name, bytes] : files) write_bytes(dst / name, bytes);
    return open_store(dst);
  }

  temp_dir src, dst;
  std::string log1, snapshot2, log2;
};

TEST_F(compaction_crash, before_the_snapshot_is_renamed) {
  auto s = recover_from({{durable_store::log_name(1), log1},
                         {durable_store::snapshot_name(2) + ".tmp",
                          snapshot2.substr(0, snapshot2.size() / 2)}});
  ASSERT_TRUE(s);
  EXPECT_EQ(ids_of(s->contents()), std::vector<std::string>{"orders-2"});
  EXPECT_EQ(s->contents().index, 900u);
  EXPECT_EQ(files_of(dst.path),
            (std::set<std::string>{"LOCK", durable_store::log_name(1)}));
}

TEST_F(compaction_crash, after_the_rename_before_the_new_log) {
  auto s = recover_from({{durable_store::log_name(1), log1},
                         {durable_store::snapshot_name(2), snapshot2}});
  ASSERT_TRUE(s);
  EXPECT_EQ(ids_of(s->contents()), std::vector<std::string>{"orders-2"});
  EXPECT_EQ(s->contents().index, 900u);
  // log-1 is covered by the snapshot; log-2 is started.
  EXPECT_EQ(files_of(dst.path),
            (std::set<std::string>{"LOCK", durable_store::snapshot_name(2),
                                   durable_store::log_name(2)}));
}

TEST_F(compaction_crash, after_the_new_log_before_the_old_one_is_deleted) {
  auto s = recover_from({{durable_store::log_name(1), log1},
                         {durable_store::snapshot_name(2), snapshot2},
                         {durable_store::log_name(2), log2}});
  ASSERT_TRUE(s);
  EXPECT_EQ(ids_of(s->contents()),
            (std::vector<std::string>{"orders-2", "orders-3"}));
  EXPECT_EQ(files_of(dst.path),
            (std::set<std::string>{"LOCK", durable_store::snapshot_name(2),
                                   durable_store::log_name(2)}));
}

TEST_F(compaction_crash, while_the_new_log_header_was_written) {
  auto s = recover_from({{durable_store::log_name(1), log1},
                         {durable_store::snapshot_name(2), snapshot2},
                         {durable_store::log_name(2), log2.substr(0, 3)}});
  ASSERT_TRUE(s);
  EXPECT_EQ(ids_of(s->contents()), std::vector<std::string>{"orders-2"});
  s->append(store_mutation::put(make("orders-4", 4)));
  ASSERT_FALSE(s->sync());
  s.reset();
  s = open_store(dst);
  ASSERT_TRUE(s);
  EXPECT_EQ(ids_of(s->contents()),
            (std::vector<std::string>{"orders-2", "orders-4"}));
}

TEST(durable_store, a_second_owner_of_the_dir_is_refused) {
  temp_dir tmp;
  auto first = open_store(tmp);
  ASSERT_TRUE(first);
  durable_store_options opts;
  opts.dir = tmp.path;
  auto second = durable_store::open(opts);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, errc::invalid_argument);
  EXPECT_NE(second.error().message.find("in use by another valmesh agent"),
            std::string::npos);
  EXPECT_NE(second.error().message.find("pid " + std::to_string(::getpid())),
            std::string::npos);
  first.reset();  // releases the lock
  auto third = durable_store::open(opts);
  EXPECT_TRUE(third);
}

// -- memory store
// -----------------------------------------------------------------

TEST(memory_store, keeps_the_records_across_owners) {
  memory_store s;
  s.append(store_mutation::put(make("orders-1", 1)));
  s.append(store_mutation::put(make("orders-2", 2)));
  s.append(store_mutation::remove("orders", "orders-1", 50));
  EXPECT_FALSE(s.sync());
  EXPECT_FALSE(s.dirty());
  EXPECT_FALSE(s.recover());
  auto c = s.contents();
  EXPECT_EQ(ids_of(c), std::vector<std::string>{"orders-2"});
  EXPECT_EQ(c.index, 50u);
  EXPECT_EQ(s.stats().syncs, 1u);
  EXPECT_FALSE(s.compaction_due());
}

// -- catalog::restore
// ---------------------------------------------------------------

TEST(catalog_restore, keeps_identity_and_indexes_with_a_fresh_lease) {
  manual_clock clk;
  catalog cat{clk, {"node-b", 60s, 24h, 10, {}}};
  auto x = make("orders-1", 6001);
  x.create_index = 5;
  x.modify_index = 9;
  x.status = health_status::passing;
  cat.restore(x);
  cat.restore_index(12);
  auto* got = cat.find("orders", "orders-1");
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(got->status, health_status::unknown);
  EXPECT_EQ(got->node, "node-a");  // the owner it was registered with
  EXPECT_EQ(got->registered_at_ms, x.registered_at_ms);
  EXPECT_EQ(got->create_index, 5u);
  EXPECT_EQ(got->modify_index, 9u);
  EXPECT_EQ(cat.index(), 12u);
  EXPECT_EQ(cat.instance_count(), 1u);
  // The lease is a fresh one: it runs out a full ttl after the restore.
  clk.advance(29s);
  EXPECT_TRUE(cat.expire().empty());
  clk.advance(2s);
  auto changes = cat.expire();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].instance.status, health_status::critical);
  // A new registration continues the index.
  auto y = make("orders-2", 6002);
  auto stored = cat.upsert(y);
  ASSERT_TRUE(stored);
  EXPECT_GT(stored->create_index, 12u);
}
