#include "runtime/registry/catalog.hpp"

#include <algorithm>

#include "runtime/common/random.hpp"

namespace valmesh {

catalog::catalog(const clock& clk, catalog_options options)
    : clock_(clk), options_(std::move(options)), id_state_(random_seed()) {
  // nop
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
  x.status = health_status::unknown;
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
  auto [pos, fresh] = svc.instances.insert_or_assign(x.id, std::move(x));
  if (fresh) ++instance_count_;
  update_timed(pos->second, lease);
}

service_instance catalog::erase(
    std::map<std::string, service_entry>::iterator svc, const std::string& id) {
  auto i = svc->second.instances.find(id);
  auto removed = std::move(i->second);
  svc->second.instances.erase(i);
  svc->second.leases.erase(id);
  if (svc->second.instances.empty()) services_.erase(svc);
  --instance_count_;
  ++index_;
  tombstones_.push_back(
      tombstone{removed.name, removed.id, removed.node, index_});
  while (tombstones_.size() > options_.max_tombstones) tombstones_.pop_front();
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
  if (s == health_status::critical)
    l.critical_since = clock_.now();
  else
    l.critical_since.reset();
  update_timed(x, l);
}

void catalog::update_timed(const service_instance& x, lease_state& l) {
  l.generation = ++generations_;
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

expected<service_instance> catalog::heartbeat(const std::string& name,
                                              const std::string& id) {
  auto found = lookup(name, id);
  if (!found) return found.error();
  auto& [x, lease] = *found;
  if (x.ttl_ms <= 0)
    return failure{errc::conflict, "instance '" + id +
                                       "' has no ttl lease to renew; register "
                                       "it with \"ttl\" to use heartbeats"};
  lease.lease_deadline = clock_.now() + std::chrono::milliseconds{x.ttl_ms};
  x.last_heartbeat_ms = clock_.unix_ms();
  change_status(x, lease, health_status::passing);
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
      // The lease ran out (this entry is the live one, so it was not renewed).
      auto before = x.status;
      change_status(x, lease, health_status::critical);  // files the removal
      changes.push_back({catalog_change::kind::status_changed, x, before, {}});
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

}  // namespace valmesh
