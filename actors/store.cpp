#include "actors/store.hpp"

#include <chrono>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

namespace valmesh {

namespace {

struct store_state {
  static inline const char* name = "store";

  std::shared_ptr<store_backend> backend;
  std::shared_ptr<metrics> meter;
  /// The appends written since the last fsync, waiting for it.
  std::vector<caf::typed_response_promise<uint64_t>> waiting;
  bool flush_pending = false;
  /// Appends nobody waits for, not yet fsynced, and whether a delayed
  /// flush is armed for them.
  size_t unsynced = 0;
  bool lazy_pending = false;
  std::chrono::milliseconds lazy_sync{50};

  store_state() = default;
  store_state(const store_state&) = delete;
  store_state& operator=(const store_state&) = delete;

  /// A store that ends with appends not yet fsynced (a crash) fails them, so
  /// the registry answers its clients at once instead of at its timeout
  /// (CAF 0.17 sends nothing for a dropped promise).
  ~store_state() {
    for (auto& rp : waiting)
      rp.deliver(make_error(errc::unavailable,
                            "the store restarted before the change was "
                            "durable; retry the request"));
  }
};

using store_pointer = metered_pointer<store_actor, store_state>;

/// Ends a group: one fsync for every append before it, then their answers.
/// An I/O error fails the group and ends the actor abnormally, so its
/// supervisor restarts it and the new incarnation recovers from the files.
void flush(store_pointer self) {
  auto& st = self->state;
  st.flush_pending = false;
  st.lazy_pending = false;
  auto unanswered = std::exchange(st.unsynced, size_t{0});
  auto began = std::chrono::steady_clock::now();
  auto err = st.backend->sync();
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - began;
  auto waiting = std::move(st.waiting);
  st.waiting.clear();
  if (err) {
    spdlog::error("store: {}", err->message);
    auto e = make_error(
        errc::unavailable,
        "the store could not make the change durable: " + err->message);
    for (auto& rp : waiting) rp.deliver(e);
    self->quit(e);
    return;
  }
  // Counted before the answers: a client that got its answer sees it.
  if (st.meter)
    st.meter->store_synced(waiting.size() + unanswered, took.count());
  auto n = st.backend->stats().appends;
  for (auto& rp : waiting) rp.deliver(n);
  if (st.backend->compaction_due()) {
    if (auto f = st.backend->compact()) {
      // The files may now be half-way through a compaction: start over.
      spdlog::error("store: compaction failed: {}", f->message);
      self->quit(make_error(errc::unavailable, f->message));
      return;
    }
    if (st.meter) st.meter->store_compacted();
  }
  if (st.meter) {
    auto s = st.backend->stats();
    st.meter->store_bytes(s.log_bytes + s.snapshot_bytes);
  }
}

store_actor::behavior_type store_impl(store_pointer self,
                                      store_options options) {
  auto& st = self->state;
  st.backend = std::move(options.backend);
  st.lazy_sync = options.lazy_sync;
  st.meter = std::move(options.meter);
  if (st.meter) {
    auto s = st.backend->stats();
    st.meter->store_bytes(s.log_bytes + s.snapshot_bytes);
  }
  if (st.backend->dirty()) {
    spdlog::warn("store: restarted with appends in flight; recovering");
    if (auto f = st.backend->recover()) {
      spdlog::error("store: cannot recover: {}", f->message);
      self->quit(make_error(std::move(*f)));  // the supervisor retries
    }
  }
  // Graceful stop: what was appended is still fsynced and answered.
  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    if (!st.waiting.empty() || st.unsynced > 0) flush(self);
    auto s = st.backend->stats();
    spdlog::info(
        "store: stopping: {} appends in {} fsyncs since start ({:.1f} per "
        "fsync), {} compactions, {} instances",
        s.appends, s.syncs,
        s.syncs > 0 ? static_cast<double>(s.appends) / s.syncs : 0.0,
        s.compactions, s.live);
    self->quit(msg.reason);
  });
  return {
      [self](inspect_atom) { return self->figures("store"); },
      [self](append_atom, store_mutation& m) -> caf::result<uint64_t> {
        auto& st = self->state;
        st.backend->append(m);
        auto rp = self->make_response_promise<uint64_t>();
        st.waiting.push_back(rp);
        if (!st.flush_pending) {
          // Queued behind every message already in the mailbox: appends
          // that arrived meanwhile join this group.
          st.flush_pending = true;
          self->send(self, flush_atom::value);
        }
        return rp;
      },
      [self](append_atom, std::vector<store_mutation>& ms) {
        auto& st = self->state;
        for (auto& m : ms) st.backend->append(m);
        st.unsynced += ms.size();
        if (st.flush_pending || st.lazy_pending || ms.empty()) return;
        // A group under way takes them along; otherwise they wait (at most
        // `lazy_sync`) for appends that someone waits for.
        st.lazy_pending = true;
        self->delayed_send(self, st.lazy_sync, flush_atom::value);
      },
      [self](load_atom) { return self->state.backend->contents(); },
      [self](flush_atom) { flush(self); },
  };
}

}  // namespace

store_actor spawn_store(caf::actor_system& sys, store_options options) {
  if (options.detached)
    return sys.spawn<caf::detached>(store_impl, std::move(options));
  return sys.spawn(store_impl, std::move(options));
}

}  // namespace valmesh
