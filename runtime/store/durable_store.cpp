#include "runtime/store/durable_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <spdlog/spdlog.h>

namespace valmesh {

namespace fs = std::filesystem;
using store_format::file_kind;

namespace {

std::string errno_text(int err) {
  return std::strerror(err);
}

failure io_failure(const std::string& what, const std::string& path,
                   int err = errno) {
  return failure{errc::unavailable,
                 what + " '" + path + "': " + errno_text(err)};
}

/// Writes all of `bytes` to `fd` (retrying short writes and EINTR).
bool write_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    auto n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

/// Reads a whole file; nothing (errno set) on failure.
std::optional<std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0)
    out.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    auto n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      errno = err;
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

/// Parses "PREFIX<16 hex>" into the sequence number.
std::optional<uint64_t> parse_seq(const std::string& name,
                                  std::string_view prefix) {
  if (name.size() != prefix.size() + 16 ||
      name.compare(0, prefix.size(), prefix) != 0)
    return std::nullopt;
  uint64_t x = 0;
  for (size_t i = prefix.size(); i < name.size(); ++i) {
    char c = name[i];
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                   : -1;
    if (d < 0) return std::nullopt;
    x = (x << 4) | static_cast<uint64_t>(d);
  }
  return x;
}

/// The file names in `dir`, without throwing (a range-for over a
/// directory_iterator throws on a read error part-way).
std::optional<std::vector<std::string>> list_dir(const std::string& dir,
                                                 std::error_code& ec) {
  std::vector<std::string> names;
  fs::directory_iterator it{dir, ec};
  for (; !ec && it != fs::directory_iterator{}; it.increment(ec))
    names.push_back(it->path().filename().string());
  if (ec) return std::nullopt;
  return names;
}

std::string_view to_string(store_format::scan_stop s) {
  return s == store_format::scan_stop::torn ? "torn" : "corrupt";
}

}  // namespace

// -- store_image
// ----------------------------------------------------------------

void store_image::apply(const store_mutation& m) {
  auto& x = m.instance;
  auto key = x.name + '/' + x.id;
  switch (m.what) {
    case store_mutation::kind::put_v1:
    case store_mutation::kind::put_v2:
    case store_mutation::kind::put: {
      std::string payload;
      store_format::encode(m, payload);
      live_[key] = std::move(payload);
      buried_.erase(key);
      index_ = std::max({index_, x.modify_index, x.create_index});
      break;
    }
    case store_mutation::kind::remove_v1:
      live_.erase(key);
      index_ = std::max(index_, m.index);
      break;
    case store_mutation::kind::bury: {
      std::string payload;
      store_format::encode(m, payload);
      live_.erase(key);
      buried_[key] = std::move(payload);
      index_ = std::max(index_, m.index);
      break;
    }
    case store_mutation::kind::forget:
      buried_.erase(key);
      break;
    case store_mutation::kind::index:
      index_ = std::max(index_, m.index);
      break;
  }
}

store_contents store_image::contents() const {
  store_contents c;
  c.index = index_;
  c.instances.reserve(live_.size());
  for (auto& [_, payload] : live_)
    if (auto m = store_format::decode(payload))
      c.instances.push_back(std::move(m->instance));
  std::sort(c.instances.begin(), c.instances.end(),
            [](const service_instance& a, const service_instance& b) {
              return std::tie(a.name, a.id) < std::tie(b.name, b.id);
            });
  c.tombstones.reserve(buried_.size());
  for (auto& [_, payload] : buried_)
    if (auto m = store_format::decode(payload))
      c.tombstones.push_back(m->as_tombstone());
  return c;
}

void store_image::write_records(std::string& out) const {
  for (auto& [_, payload] : live_) store_format::append_record(payload, out);
  for (auto& [_, payload] : buried_) store_format::append_record(payload, out);
  store_format::append_record(store_mutation::mark_index(index_), out);
}

// -- memory_store
// -----------------------------------------------------------------

void memory_store::append(const store_mutation& m) {
  image_.apply(m);
  ++stats_.appends;
  ++stats_.log_records;
}

std::optional<failure> memory_store::sync() {
  ++stats_.syncs;
  return std::nullopt;
}

store_stats memory_store::stats() const noexcept {
  auto s = stats_;
  s.live = image_.size();
  return s;
}

// -- durable_store
// ----------------------------------------------------------------

std::string durable_store::log_name(uint64_t seq) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "log-%016" PRIx64, seq);
  return buf;
}

std::string durable_store::snapshot_name(uint64_t seq) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "snapshot-%016" PRIx64, seq);
  return buf;
}

durable_store::durable_store(durable_store_options options)
    : options_(std::move(options)) {
  // nop
}

durable_store::~durable_store() {
  close_log();
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

expected<std::unique_ptr<durable_store>> durable_store::open(
    durable_store_options options) {
  if (options.dir.empty())
    return failure{errc::invalid_argument, "--data-dir must not be empty"};
  std::error_code ec;
  bool created = fs::create_directories(options.dir, ec);
  if (ec)
    return failure{
        errc::invalid_argument,
        "cannot create data dir '" + options.dir + "': " + ec.message()};
  if (created) {
    // The new dir's own entry must survive a power loss too.
    auto path = fs::absolute(options.dir, ec);
    if (!path.has_filename()) path = path.parent_path();  // "dir/"
    auto parent = path.parent_path().string();
    int fd =
        ec ? -1 : ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
  }
  std::unique_ptr<durable_store> s{new durable_store(std::move(options))};
  if (auto f = s->lock()) return std::move(*f);
  if (auto f = s->recover()) return std::move(*f);
  return s;
}

std::optional<failure> durable_store::lock() {
  auto path = (fs::path{options_.dir} / lock_name).string();
  lock_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) {
    auto f = io_failure("cannot open lock file", path);
    f.code = errc::invalid_argument;
    return f;
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    std::string holder;
    if (auto text = read_file(path)) {
      holder = *text;
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' '))
        holder.pop_back();
    }
    ::close(lock_fd_);
    lock_fd_ = -1;
    if (err == EWOULDBLOCK)
      return failure{errc::invalid_argument,
                     "data dir '" + options_.dir +
                         "' is in use by another valmesh agent" +
                         (holder.empty() ? "" : " (pid " + holder + ")") +
                         "; stop it, or give this one another --data-dir"};
    return failure{errc::invalid_argument,
                   "cannot lock '" + path + "': " + errno_text(err)};
  }
  auto pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_fd_, 0) != 0 || !write_all(lock_fd_, pid))
    spdlog::warn("store: cannot write the pid into '{}': {}", path,
                 errno_text(errno));
  return std::nullopt;
}

void durable_store::close_log() {
  if (log_fd_ >= 0) ::close(log_fd_);
  log_fd_ = -1;
}

std::optional<failure> durable_store::fsync_dir() {
  int fd = ::open(options_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_failure("cannot open data dir", options_.dir);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return io_failure("cannot fsync data dir", options_.dir, err);
  return std::nullopt;
}

std::optional<failure> durable_store::open_log(uint64_t seq, bool create) {
  auto path = (fs::path{options_.dir} / log_name(seq)).string();
  int fd = -1;
  if (create) {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return io_failure("cannot create log", path);
    auto h = store_format::header(file_kind::log);
    if (!write_all(fd, h) || ::fdatasync(fd) != 0) {
      int err = errno;
      ::close(fd);
      return io_failure("cannot write log", path, err);
    }
    if (auto f = fsync_dir()) {
      ::close(fd);
      return f;
    }
    stats_.log_bytes = h.size();
    stats_.log_records = 0;
  } else {
    fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return io_failure("cannot open log", path);
    auto end = ::lseek(fd, 0, SEEK_END);
    if (end < 0) {
      int err = errno;
      ::close(fd);
      return io_failure("cannot seek log", path, err);
    }
    stats_.log_bytes = static_cast<uint64_t>(end);
  }
  close_log();
  log_fd_ = fd;
  log_seq_ = seq;
  return std::nullopt;
}

std::optional<failure> durable_store::recover() {
  close_log();
  pending_.clear();
  pending_records_ = 0;
  image_.clear();
  report_ = {};
  dirty_ = true;  // until recovery succeeds
  auto warn = [this](std::string text) {
    spdlog::warn("store: {}", text);
    report_.warnings.push_back(std::move(text));
  };
  // What the dir holds.
  std::vector<uint64_t> logs, snapshots;
  std::error_code ec;
  auto names = list_dir(options_.dir, ec);
  if (!names)
    return failure{errc::unavailable, "cannot list data dir '" + options_.dir +
                                          "': " + ec.message()};
  for (auto& name : *names) {
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) {
      // A snapshot that was never renamed: its log is still there.
      std::error_code ignored;
      fs::remove(fs::path{options_.dir} / name, ignored);
      continue;
    }
    if (auto seq = parse_seq(name, "log-"))
      logs.push_back(*seq);
    else if (auto seq = parse_seq(name, "snapshot-"))
      snapshots.push_back(*seq);
  }
  std::sort(logs.begin(), logs.end());
  std::sort(snapshots.begin(), snapshots.end());
  uint64_t base = snapshots.empty() ? 0 : snapshots.back();
  auto apply = [this](store_mutation&& m) { image_.apply(m); };
  // 1. The newest snapshot.
  stats_.snapshot_bytes = 0;
  if (base > 0) {
    auto path = (fs::path{options_.dir} / snapshot_name(base)).string();
    auto bytes = read_file(path);
    if (!bytes) return io_failure("cannot read snapshot", path);
    if (store_format::check_header(*bytes, file_kind::snapshot) !=
        store_format::header_state::ok)
      return failure{errc::invalid_argument,
                     "'" + path +
                         "' is not a valmesh snapshot of this version; "
                         "refusing to start on it"};
    auto r = store_format::scan(*bytes, store_format::header_size, apply);
    report_.snapshot_records = r.records;
    stats_.snapshot_bytes = bytes->size();
    if (r.stop != store_format::scan_stop::end)
      warn(fmt::format(
          "snapshot '{}' has a {} record at byte {}: {} records before it "
          "recovered, the {} bytes after it ignored",
          path, to_string(r.stop), r.valid_end, r.records,
          bytes->size() - r.valid_end));
  }
  // 2. The logs written after it, in order.
  std::vector<uint64_t> replay;
  for (auto seq : logs)
    if (seq >= base) replay.push_back(seq);
  std::optional<uint64_t> current;
  for (size_t i = 0; i < replay.size(); ++i) {
    auto seq = replay[i];
    bool last = i + 1 == replay.size();
    auto path = (fs::path{options_.dir} / log_name(seq)).string();
    auto bytes = read_file(path);
    if (!bytes) return io_failure("cannot read log", path);
    auto h = store_format::check_header(*bytes, file_kind::log);
    if (h == store_format::header_state::foreign)
      return failure{errc::invalid_argument,
                     "'" + path +
                         "' is not a valmesh log of this version; refusing "
                         "to start on it"};
    if (h == store_format::header_state::torn) {
      // Died while creating it: it holds no record.
      if (!bytes->empty())
        warn(fmt::format("log '{}' has a torn header: {} bytes dropped", path,
                         bytes->size()));
      report_.cut_bytes += bytes->size();
      if (!last) fs::remove(path, ec);
      if (last) {
        if (auto f = open_log(seq, true)) return f;
        current = seq;
      }
      continue;
    }
    auto r = store_format::scan(*bytes, store_format::header_size, apply);
    report_.log_records += r.records;
    if (r.stop != store_format::scan_stop::end) {
      auto cut = bytes->size() - r.valid_end;
      warn(fmt::format(
          "log '{}' ends with a {} record at byte {}: cut {} bytes; the {} "
          "records before it are recovered",
          path, to_string(r.stop), r.valid_end, cut, r.records));
      report_.cut_bytes += cut;
      if (::truncate(path.c_str(), static_cast<off_t>(r.valid_end)) != 0)
        return io_failure("cannot cut the tail of", path);
    }
    if (last) {
      if (auto f = open_log(seq, false)) return f;
      if (r.stop != store_format::scan_stop::end && ::fdatasync(log_fd_) != 0)
        return io_failure("cannot fsync", path);
      stats_.log_records = r.records;
      current = seq;
    }
  }
  if (!current) {
    if (auto f = open_log(std::max<uint64_t>(base, 1), true)) return f;
  }
  // 3. What the snapshot made obsolete (a compaction that died before
  // deleting them).
  bool removed = false;
  for (auto seq : logs)
    if (seq < base)
      removed |= fs::remove(fs::path{options_.dir} / log_name(seq), ec);
  for (auto seq : snapshots)
    if (seq < base)
      removed |= fs::remove(fs::path{options_.dir} / snapshot_name(seq), ec);
  if (removed)
    if (auto f = fsync_dir()) return f;
  dirty_ = false;
  spdlog::info(
      "store: recovered {} instances from '{}' ({} snapshot records, {} log "
      "records{})",
      image_.size(), options_.dir, report_.snapshot_records,
      report_.log_records,
      report_.cut_bytes > 0
          ? fmt::format(", {} bytes of a damaged tail cut", report_.cut_bytes)
          : "");
  return std::nullopt;
}

void durable_store::append(const store_mutation& m) {
  image_.apply(m);
  store_format::append_record(m, pending_);
  ++pending_records_;
  ++stats_.appends;
  dirty_ = true;
}

std::optional<failure> durable_store::sync() {
  if (pending_.empty()) {
    return std::nullopt;
  }
  auto path = (fs::path{options_.dir} / log_name(log_seq_)).string();
  if (log_fd_ < 0) return failure{errc::unavailable, "the log is not open"};
  if (!write_all(log_fd_, pending_)) return io_failure("cannot write", path);
  if (::fdatasync(log_fd_) != 0) return io_failure("cannot fsync", path);
  stats_.log_bytes += pending_.size();
  stats_.log_records += pending_records_;
  ++stats_.syncs;
  pending_.clear();
  pending_records_ = 0;
  dirty_ = false;
  return std::nullopt;
}

bool durable_store::compaction_due() const noexcept {
  auto records = stats_.log_bytes - store_format::header_size;
  return records >= options_.compact_min_bytes &&
         static_cast<double>(stats_.log_bytes) >=
             options_.compact_ratio *
                 static_cast<double>(stats_.snapshot_bytes);
}

std::optional<failure> durable_store::write_snapshot(uint64_t seq) {
  auto final_path = (fs::path{options_.dir} / snapshot_name(seq)).string();
  auto tmp_path = final_path + ".tmp";
  std::string bytes = store_format::header(file_kind::snapshot);
  image_.write_records(bytes);
  int fd =
      ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return io_failure("cannot create", tmp_path);
  if (!write_all(fd, bytes) || ::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    return io_failure("cannot write", tmp_path, err);
  }
  ::close(fd);
  if (::rename(tmp_path.c_str(), final_path.c_str()) != 0)
    return io_failure("cannot rename", tmp_path);
  if (auto f = fsync_dir()) return f;
  stats_.snapshot_bytes = bytes.size();
  return std::nullopt;
}

std::optional<failure> durable_store::compact() {
  if (auto f = sync()) return f;
  dirty_ = true;  // until the new log is in place
  auto old_seq = log_seq_;
  auto next = old_seq + 1;
  // (1) snapshot-(K+1): from here on, recovery ignores log-K.
  if (auto f = write_snapshot(next)) return f;
  // (2) log-(K+1), empty.
  if (auto f = open_log(next, true)) return f;
  // (3) what is obsolete now.
  std::error_code ec;
  fs::remove(fs::path{options_.dir} / log_name(old_seq), ec);
  if (auto names = list_dir(options_.dir, ec))
    for (auto& name : *names) {
      auto seq = parse_seq(name, "snapshot-");
      if (seq && *seq < next) fs::remove(fs::path{options_.dir} / name, ec);
    }
  if (auto f = fsync_dir()) return f;
  ++stats_.compactions;
  dirty_ = false;
  spdlog::info("store: compacted {} instances into '{}' ({} bytes)",
               image_.size(), snapshot_name(next), stats_.snapshot_bytes);
  return std::nullopt;
}

store_stats durable_store::stats() const noexcept {
  auto s = stats_;
  s.live = image_.size();
  return s;
}

}  // namespace valmesh
