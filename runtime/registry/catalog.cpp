#include "runtime/registry/catalog.hpp"

#include <algorithm>

#include "runtime/common/random.hpp"

namespace valmesh {

namespace {

std::string key_of(std::string_view name, std::string_view id) {
  std::string k;
  k.reserve(name.size() + id.size() + 1);
  k.append(name);
  k += '/';
  k.append(id);
  return k;
}

/// FNV-1a, then SplitMix64's finaliser: stable across processes and
/// machines (the digest is compared between nodes).
uint64_t hash_bytes(std::string_view bytes,
                    uint64_t h = 0xcbf29ce484222325ULL) {
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

uint64_t mix(uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t entry_hash(const service_instance& x) noexcept {
  auto h = hash_bytes(x.name);
  h = hash_bytes(std::string_view{"/", 1}, h);
  h = hash_bytes(x.id, h);
  h = hash_bytes(std::string_view{"@", 1}, h);
  h = hash_bytes(x.revision.origin, h);
  return mix(h ^ mix(x.revision.stamp));
}

}  // namespace

catalog_entry deletion_of(const service_instance& x) {
  catalog_entry e;
  e.instance.name = x.name;
  e.instance.id = x.id;
  e.instance.node = x.node;
  e.instance.revision = x.revision;
  e.removed = true;
  return e;
}

std::vector<uint32_t> differing_buckets(const catalog_digest& a,
                                        const catalog_digest& b) {
  std::vector<uint32_t> result;
  auto n = std::max(a.buckets.size(), b.buckets.size());
  for (size_t i = 0; i < n; ++i) {
    auto x = i < a.buckets.size() ? a.buckets[i] : 0;
    auto y = i < b.buckets.size() ? b.buckets[i] : 0;
    if (x != y) result.push_back(static_cast<uint32_t>(i));
  }
  return result;
}

catalog::catalog(const clock& clk, catalog_options options)
    : clock_(clk),
      options_(std::move(options)),
      hlc_(clk),
      id_state_(random_seed()) {
  // nop
}

uint32_t catalog::bucket_of(std::string_view name, std::string_view id) {
  auto h =
      hash_bytes(id, hash_bytes(std::string_view{"/", 1}, hash_bytes(name)));
  return static_cast<uint32_t>(mix(h) % catalog_digest::bucket_count);
}

void catalog::digest_add(const service_instance& x) noexcept {
  digest_.buckets[bucket_of(x.name, x.id)] ^= entry_hash(x);
}

void catalog::digest_remove(const service_instance& x) noexcept {
  digest_add(x);  // XOR is its own inverse
}

void catalog::stamp(service_instance& x) {
  x.revision = write_version{hlc_.now(), options_.node_name};
}

namespace {

/// Where a write to an instance stands among all writes to it: its
/// registration first, then the write itself. A removal stands at its own
/// revision in both places.
std::pair<write_version, write_version> order_of(const service_instance& x,
                                                 bool removed) {
  if (removed) return {x.revision, x.revision};
  return {x.registered.stamp != 0 ? x.registered : x.revision, x.revision};
}

}  // namespace

bool catalog::judges(const service_instance& x) const {
  return !options_.judges || options_.judges(x);
}

std::string catalog::make_id(const std::string& name) {
  static constexpr char hex[] = "0123456789abcdef";
  for (;;) {
    auto r = splitmix64(id_state_);
    std::string id = name;
    id += '-';
    for (int i = 0; i < 8; ++i) id += hex[(r >> (i * 4)) & 0xf];
    auto svc = services_.find(name);
    if (svc == services_.end() || svc->second.instances.count(id) == 0)
      return id;
  }
}

expected<service_instance> catalog::upsert(service_instance x) {
  auto& svc = services_[x.name];
  if (x.id.empty()) x.id = make_id(x.name);
  auto now = clock_.now();
  ++index_;
  auto i = svc.instances.find(x.id);
  auto& lease = svc.leases[x.id];
  if (i == svc.instances.end()) {
    x.status = health_status::unknown;
    x.registered_at_ms = clock_.unix_ms();
    x.last_heartbeat_ms = 0;
    x.node = options_.node_name;
    x.active_requests = 0;
    x.create_index = index_;
    x.modify_index = index_;
    if (x.ttl_ms > 0)
      lease.lease_deadline = now + std::chrono::milliseconds{x.ttl_ms};
    ++instance_count_;
    stamp(x);
    x.registered = x.revision;
    tombstones_.erase(key_of(x.name, x.id));
    digest_add(x);
    auto [pos, _] = svc.instances.emplace(x.id, std::move(x));
    update_timed(pos->second, lease);
    return pos->second;
  }
  auto& old = i->second;
  x.status = old.status;
  x.registered_at_ms = old.registered_at_ms;
  x.last_heartbeat_ms = old.last_heartbeat_ms;
  x.node = old.node;
  x.active_requests = old.active_requests;
  x.create_index = old.create_index;
  x.modify_index = index_;
  x.last_check_ms = old.last_check_ms;
  x.last_check_duration_us = old.last_check_duration_us;
  x.last_check_output = old.last_check_output;
  digest_remove(old);
  stamp(x);
  x.registered = x.revision;
  digest_add(x);
  if (x.ttl_ms != old.ttl_ms) {
    lease.lease_deadline.reset();
    if (x.ttl_ms > 0)
      lease.lease_deadline = now + std::chrono::milliseconds{x.ttl_ms};
  }
  old = std::move(x);
  update_timed(old, lease);
  return old;
}

void catalog::restore(service_instance x) {
  auto& svc = services_[x.name];
  hlc_.observe(x.revision.stamp);
  // An instance this node judges starts over (unknown, a fresh lease); one
  // judged elsewhere keeps the status its judge last wrote.
  if (judges(x)) x.status = health_status::unknown;
  x.last_heartbeat_ms = 0;
  x.active_requests = 0;
  x.last_check_ms = 0;
  x.last_check_duration_us = 0;
  x.last_check_output.clear();
  index_ = std::max({index_, x.create_index, x.modify_index});
  auto& lease = svc.leases[x.id];
  lease = lease_state{};
  if (x.ttl_ms > 0)
    lease.lease_deadline = clock_.now() + std::chrono::milliseconds{x.ttl_ms};
  if (auto i = svc.instances.find(x.id); i != svc.instances.end())
    digest_remove(i->second);
  digest_add(x);
  auto [pos, fresh] = svc.instances.insert_or_assign(x.id, std::move(x));
  if (fresh) ++instance_count_;
  update_timed(pos->second, lease);
}

void catalog::restore(tombstone t) {
  hlc_.observe(t.revision.stamp);
  index_ = std::max(index_, t.index);
  bury(std::move(t));
}

void catalog::bury(tombstone t) {
  auto key = key_of(t.name, t.id);
  burial_order_.emplace_back(key, t.removed_at_ms);
  tombstones_.insert_or_assign(std::move(key), std::move(t));
}

void catalog::rejudge() {
  auto now = clock_.now();
  for (auto& [_, svc] : services_)
    for (auto& [id, x] : svc.instances) {
      auto& l = svc.leases[id];
      auto now_judged = judges(x);
      if (now_judged == l.judged) continue;
      if (now_judged) {
        // Taken over: a fresh grace period, as after a restart.
        l.lease_deadline.reset();
        if (x.ttl_ms > 0)
          l.lease_deadline = now + std::chrono::milliseconds{x.ttl_ms};
        if (x.status == health_status::critical) l.critical_since = now;
      }
      update_timed(x, l);
    }
}

std::vector<tombstone> catalog::forget_old_tombstones() {
  std::vector<tombstone> forgotten;
  auto horizon = clock_.unix_ms() - options_.tombstone_ttl.count();
  while (!burial_order_.empty()) {
    auto& [key, at] = burial_order_.front();
    auto i = tombstones_.find(key);
    if (i == tombstones_.end() || i->second.removed_at_ms != at) {
      burial_order_.pop_front();  // replaced or revived since
      continue;
    }
    if (at > horizon && tombstones_.size() <= options_.max_tombstones) break;
    forgotten.push_back(std::move(i->second));
    tombstones_.erase(i);
    burial_order_.pop_front();
  }
  return forgotten;
}

service_instance catalog::erase(
    std::map<std::string, service_entry>::iterator svc, const std::string& id,
    std::optional<write_version> revision) {
  auto i = svc->second.instances.find(id);
  auto removed = std::move(i->second);
  svc->second.instances.erase(i);
  svc->second.leases.erase(id);
  if (svc->second.instances.empty()) services_.erase(svc);
  --instance_count_;
  ++index_;
  digest_remove(removed);
  if (!revision)
    stamp(removed);
  else
    removed.revision = *revision;
  bury(tombstone{removed.name, removed.id, removed.node, index_,
                 removed.revision, clock_.unix_ms()});
  return removed;
}

expected<service_instance> catalog::remove(const std::string& name,
                                           const std::string& id) {
  auto svc = services_.find(name);
  if (svc == services_.end())
    return failure{errc::not_found, "no service named '" + name + "'"};
  if (svc->second.instances.count(id) == 0)
    return failure{errc::not_found,
                   "service '" + name + "' has no instance '" + id + "'"};
  return erase(svc, id);
}

void catalog::change_status(service_instance& x, lease_state& l,
                            health_status s) {
  if (x.status == s) return;
  x.status = s;
  x.modify_index = ++index_;
  digest_remove(x);
  stamp(x);
  digest_add(x);
  if (s == health_status::critical)
    l.critical_since = clock_.now();
  else
    l.critical_since.reset();
  update_timed(x, l);
}

void catalog::update_timed(const service_instance& x, lease_state& l) {
  l.generation = ++generations_;
  l.judged = judges(x);
  if (!l.judged) return;  // its judge's writes will say what happens
  auto grace = options_.deregister_critical_after;
  if (l.critical_since) {
    if (grace.count() > 0)
      deadlines_.push({*l.critical_since + grace, x.name, x.id, l.generation});
  } else if (l.lease_deadline) {
    deadlines_.push({*l.lease_deadline, x.name, x.id, l.generation});
  }
}

void catalog::drop_stale_deadlines() {
  while (!deadlines_.empty()) {
    auto& d = deadlines_.top();
    auto svc = services_.find(d.name);
    if (svc != services_.end()) {
      auto l = svc->second.leases.find(d.id);
      if (l != svc->second.leases.end() && l->second.generation == d.generation)
        return;
    }
    deadlines_.pop();
  }
}

expected<catalog::entry_ref> catalog::lookup(const std::string& name,
                                             const std::string& id) {
  auto svc = services_.find(name);
  if (svc == services_.end())
    return failure{errc::not_found, "no service named '" + name + "'"};
  auto i = svc->second.instances.find(id);
  if (i == svc->second.instances.end())
    return failure{errc::not_found,
                   "service '" + name + "' has no instance '" + id + "'"};
  return entry_ref{i->second, svc->second.leases[id]};
}

expected<service_instance> catalog::heartbeat(
    const std::string& name, const std::string& id, health_status status,
    std::optional<std::string> output) {
  auto found = lookup(name, id);
  if (!found) return found.error();
  auto& [x, lease] = *found;
  if (x.ttl_ms <= 0)
    return failure{errc::conflict, "instance '" + id +
                                       "' has no ttl lease to renew; register "
                                       "it with \"ttl\" to use heartbeats"};
  lease.lease_deadline = clock_.now() + std::chrono::milliseconds{x.ttl_ms};
  x.last_heartbeat_ms = clock_.unix_ms();
  if (output) {
    x.last_check_ms = x.last_heartbeat_ms;
    x.last_check_output = std::move(*output);
  }
  if (x.status == status) {
    // A renewal is a write of its own (replicas renew the lease too).
    x.modify_index = ++index_;
    digest_remove(x);
    stamp(x);
    digest_add(x);
  }
  change_status(x, lease, status);
  update_timed(x, lease);  // the lease moved even if the status did not
  return x;
}

expected<service_instance> catalog::set_status(const std::string& name,
                                               const std::string& id,
                                               health_status status) {
  auto found = lookup(name, id);
  if (!found) return found.error();
  auto& [x, lease] = *found;
  change_status(x, lease, status);
  return x;
}

expected<std::optional<catalog_change>> catalog::record_check(
    const std::string& name, const std::string& id, health_status status,
    int64_t duration_us, std::string output) {
  auto found = lookup(name, id);
  if (!found) return found.error();
  auto& [x, lease] = *found;
  x.last_check_ms = clock_.unix_ms();
  x.last_check_duration_us = duration_us;
  x.last_check_output = std::move(output);
  // The worst of its checks, as Consul aggregates them: an instance whose
  // lease ran out stays critical, whatever its HTTP check says, until a
  // heartbeat renews the lease. (Otherwise it would flip between critical
  // and passing on every check and never be removed.)
  if (x.ttl_ms > 0 && lease.lease_deadline &&
      *lease.lease_deadline <= clock_.now())
    status = health_status::critical;
  std::optional<catalog_change> change;
  if (x.status != status) {
    auto before = x.status;
    change_status(x, lease, status);
    change =
        catalog_change{catalog_change::kind::status_changed, x, before, {}};
  }
  return change;
}

std::vector<catalog_change> catalog::expire() {
  std::vector<catalog_change> changes;
  auto now = clock_.now();
  auto grace = options_.deregister_critical_after;
  std::vector<std::pair<std::string, std::string>> doomed;
  for (drop_stale_deadlines();
       !deadlines_.empty() && deadlines_.top().at <= now;
       drop_stale_deadlines()) {
    auto d = deadlines_.top();
    deadlines_.pop();
    auto& svc = services_.at(d.name);
    auto& x = svc.instances.at(d.id);
    auto& lease = svc.leases.at(d.id);
    if (!lease.critical_since) {
      // The lease ran out (this entry is the live one, so it was not renewed);
      // the reason tells a lease expiry from a failed check in the metrics.
      auto before = x.status;
      change_status(x, lease, health_status::critical);  // files the removal
      changes.push_back(
          {catalog_change::kind::status_changed, x, before, "lease_expired"});
    } else if (grace.count() > 0 && now - *lease.critical_since >= grace) {
      lease.generation = ++generations_;  // nothing further pending
      doomed.emplace_back(d.name, d.id);
    }
  }
  for (auto& [name, id] : doomed) {
    auto removed = erase(services_.find(name), id);
    auto status = removed.status;
    changes.push_back({catalog_change::kind::deregistered, std::move(removed),
                       status, "critical"});
  }
  return changes;
}

std::optional<clock::time_point> catalog::next_deadline() {
  drop_stale_deadlines();
  if (deadlines_.empty()) return std::nullopt;
  return deadlines_.top().at;
}

const std::map<std::string, service_instance>* catalog::instances(
    const std::string& name) const {
  auto i = services_.find(name);
  return i == services_.end() ? nullptr : &i->second.instances;
}

const service_instance* catalog::find(const std::string& name,
                                      const std::string& id) const {
  auto svc = services_.find(name);
  if (svc == services_.end()) return nullptr;
  auto i = svc->second.instances.find(id);
  return i == svc->second.instances.end() ? nullptr : &i->second;
}

std::vector<service_summary> catalog::summaries() const {
  std::vector<service_summary> result;
  result.reserve(services_.size());
  for (auto& [name, svc] : services_) {
    service_summary s;
    s.name = name;
    std::set<std::string> versions;
    for (auto& [_, x] : svc.instances) {
      ++s.instance_count;
      if (x.status == health_status::passing) ++s.passing_count;
      if (!x.version.empty()) versions.insert(x.version);
    }
    s.versions.assign(versions.begin(), versions.end());
    result.push_back(std::move(s));
  }
  return result;
}

std::vector<service_instance> catalog::all() const {
  std::vector<service_instance> result;
  result.reserve(instance_count_);
  for (auto& [_, svc] : services_)
    for (auto& [__, x] : svc.instances) result.push_back(x);
  return result;
}

std::optional<catalog_change> catalog::merge(const catalog_entry& e) {
  auto& in = e.instance;
  if (!valid_service_name(in.name) || !valid_instance_id(in.id) ||
      in.revision.stamp == 0)
    return std::nullopt;
  // A peer's write obeys the rules a registration obeys: a peer running
  // other code, or a hostile one, cannot plant what the API would refuse
  // (a TTL past 24 h overflowed the lease's deadline; found by
  // tests/fuzz/cluster_message_fuzz).
  if (!e.removed && (in.status > health_status::critical ||
                     !validate_instance(in).has_value()))
    return std::nullopt;
  hlc_.observe(in.revision.stamp);
  auto key = key_of(in.name, in.id);
  auto svc = services_.find(in.name);
  service_instance* local = nullptr;
  if (svc != services_.end())
    if (auto i = svc->second.instances.find(in.id);
        i != svc->second.instances.end())
      local = &i->second;
  auto tomb = tombstones_.find(key);
  std::pair<write_version, write_version> current;
  if (local) {
    current = order_of(*local, false);
  } else if (tomb != tombstones_.end()) {
    service_instance t;
    t.revision = tomb->second.revision;
    current = order_of(t, true);
  }
  if (!(order_of(in, e.removed) > current)) return std::nullopt;  // not newer
  if (e.removed) {
    if (!local) {
      bury(tombstone{in.name, in.id, in.node, index_, in.revision,
                     clock_.unix_ms()});
      return std::nullopt;
    }
    auto removed = erase(svc, in.id, in.revision);
    auto status = removed.status;
    catalog_change c{catalog_change::kind::deregistered, std::move(removed),
                     status, "deregistered"};
    c.replicated = true;
    return c;
  }
  if (tomb != tombstones_.end()) tombstones_.erase(tomb);
  auto now = clock_.now();
  auto x = in;
  x.active_requests = 0;
  if (!local) {
    auto& entry = services_[x.name];
    auto& lease = entry.leases[x.id];
    lease = lease_state{};
    x.create_index = x.modify_index = ++index_;
    x.last_check_ms = 0;
    x.last_check_duration_us = 0;
    x.last_check_output.clear();
    if (x.ttl_ms > 0)
      lease.lease_deadline = now + std::chrono::milliseconds{x.ttl_ms};
    if (x.status == health_status::critical) lease.critical_since = now;
    ++instance_count_;
    digest_add(x);
    auto [pos, _] = entry.instances.emplace(x.id, std::move(x));
    update_timed(pos->second, lease);
    catalog_change c{catalog_change::kind::registered,
                     pos->second,
                     health_status::unknown,
                     {}};
    c.replicated = true;
    return c;
  }
  auto& old = *local;
  auto& lease = svc->second.leases[x.id];
  auto before = old.status;
  bool renewed =
      x.last_heartbeat_ms > old.last_heartbeat_ms || x.ttl_ms != old.ttl_ms;
  x.active_requests = old.active_requests;
  x.create_index = old.create_index;
  x.modify_index = ++index_;
  x.last_check_ms = std::max(x.last_check_ms, old.last_check_ms);
  if (x.last_check_ms == old.last_check_ms) {
    x.last_check_duration_us = old.last_check_duration_us;
    x.last_check_output = old.last_check_output;
  }
  digest_remove(old);
  digest_add(x);
  if (renewed) {
    lease.lease_deadline.reset();
    if (x.ttl_ms > 0)
      lease.lease_deadline = now + std::chrono::milliseconds{x.ttl_ms};
  }
  if (x.status != before) {
    if (x.status == health_status::critical)
      lease.critical_since = now;
    else
      lease.critical_since.reset();
  }
  auto what = catalog_change::kind::updated;
  if (x.status != before) {
    what = catalog_change::kind::status_changed;
  } else {
    auto a = old, b = x;
    a.revision = b.revision = {};
    a.registered = b.registered = {};
    a.last_heartbeat_ms = b.last_heartbeat_ms = 0;
    a.modify_index = b.modify_index = 0;
    a.last_check_ms = b.last_check_ms = 0;
    a.last_check_duration_us = b.last_check_duration_us = 0;
    a.last_check_output.clear();
    b.last_check_output.clear();
    if (a == b) what = catalog_change::kind::renewed;
  }
  old = std::move(x);
  update_timed(old, lease);
  catalog_change c{what, old, before, {}};
  c.replicated = true;
  return c;
}

std::vector<catalog_entry> catalog::entries_in(
    const std::vector<uint32_t>& buckets) const {
  std::vector<bool> wanted(catalog_digest::bucket_count, false);
  for (auto b : buckets)
    if (b < wanted.size()) wanted[b] = true;
  std::vector<catalog_entry> result;
  for (auto& [_, svc] : services_)
    for (auto& [__, x] : svc.instances)
      if (wanted[bucket_of(x.name, x.id)]) result.push_back({x, false});
  for (auto& [_, t] : tombstones_) {
    if (!wanted[bucket_of(t.name, t.id)]) continue;
    service_instance x;
    x.name = t.name;
    x.id = t.id;
    x.node = t.node;
    x.revision = t.revision;
    result.push_back(deletion_of(x));
  }
  return result;
}

}  // namespace valmesh
