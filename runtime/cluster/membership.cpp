#include "runtime/cluster/membership.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

#include "runtime/common/random.hpp"

namespace valmesh {

namespace {

/// Returns whether what is said in `rumour` beats what is known in `known`:
/// a higher incarnation, or the worse state at the same incarnation.
bool overrides(const member& rumour, const member& known) noexcept {
  if (rumour.incarnation != known.incarnation)
    return rumour.incarnation > known.incarnation;
  return rumour.status > known.status;
}

bool is_tombstone(member_status s) noexcept {
  return s == member_status::dead || s == member_status::left;
}

/// Shuffles `xs` in place (Fisher-Yates) with SplitMix64 draws from `rng`.
void shuffle(std::vector<std::string>& xs, uint64_t& rng) {
  for (size_t i = xs.size(); i > 1; --i) {
    auto j = static_cast<size_t>(splitmix64(rng) % i);
    std::swap(xs[i - 1], xs[j]);
  }
}

}  // namespace

std::string_view to_string(member_status x) noexcept {
  switch (x) {
    case member_status::alive:
      return "alive";
    case member_status::suspect:
      return "suspect";
    case member_status::dead:
      return "dead";
    case member_status::left:
      return "left";
  }
  return "alive";
}

std::optional<member_status> parse_member_status(std::string_view x) noexcept {
  if (x == "alive") return member_status::alive;
  if (x == "suspect") return member_status::suspect;
  if (x == "dead") return member_status::dead;
  if (x == "left") return member_status::left;
  return std::nullopt;
}

std::string_view event_name(member_event::kind k) noexcept {
  switch (k) {
    case member_event::kind::joined:
      return "member_joined";
    case member_event::kind::suspect:
      return "member_suspect";
    case member_event::kind::alive:
      return "member_alive";
    case member_event::kind::dead:
      return "member_dead";
    case member_event::kind::left:
      return "member_left";
    case member_event::kind::refuted:
      return "member_refuted";
  }
  return "member_joined";
}

membership::membership(const clock& clk, membership_options options,
                       member self)
    : clock_(clk), options_(std::move(options)), self_name_(self.name) {
  self.status = member_status::alive;
  timings_[self_name_].since = clock_.now();
  members_.emplace(self_name_, std::move(self));
}

const member& membership::self() const noexcept {
  return members_.find(self_name_)->second;
}

const member* membership::find(std::string_view name) const {
  auto i = members_.find(std::string{name});
  return i != members_.end() ? &i->second : nullptr;
}

size_t membership::count(member_status status) const {
  return static_cast<size_t>(std::count_if(
      members_.begin(), members_.end(),
      [&](const auto& kv) { return kv.second.status == status; }));
}

std::vector<std::string> membership::peers() const {
  std::vector<std::string> result;
  for (const auto& [name, m] : members_)
    if (name != self_name_ && !is_tombstone(m.status)) result.push_back(name);
  return result;
}

std::vector<std::string> membership::alive_names() const {
  std::vector<std::string> result;
  for (const auto& [name, m] : members_)
    if (m.status == member_status::alive) result.push_back(name);
  return result;
}

std::vector<std::string> membership::owner_candidates() const {
  std::vector<std::string> owners, known;
  size_t peers = 0;
  for (const auto& [name, m] : members_)
    if (name != self_name_ && (m.status == member_status::alive ||
                               m.status == member_status::suspect))
      ++peers;
  // Heard from within two probe rounds plus a probe timeout: a member gone
  // quiet since does not count towards the majority even before it is
  // suspected. Each peer is probed once per round, but rounds are shuffled,
  // so one peer can be probed first in a round and last in the next, 2k-1
  // intervals apart; the window must outlast that, or a node that looks
  // on every round would take itself for a minority now and then.
  auto window = options_.probe_interval.count() * 2 *
                    static_cast<int64_t>(std::max<size_t>(peers, 1)) +
                probe_timeout().count();
  auto now = clock_.unix_ms();
  size_t reachable = 0;
  for (const auto& [name, m] : members_) {
    if (m.status == member_status::left) continue;
    known.push_back(name);
    if (m.status == member_status::alive || m.status == member_status::suspect)
      owners.push_back(name);
    if (name == self_name_ ||
        (m.status == member_status::alive && now - m.last_seen_ms <= window))
      ++reachable;
  }
  if (reachable * 2 > known.size()) return owners;
  return known;
}

std::vector<std::string> membership::alive_peers() const {
  std::vector<std::string> result;
  for (const auto& [name, m] : members_)
    if (name != self_name_ && m.status == member_status::alive)
      result.push_back(name);
  return result;
}

void membership::set_status(member& m, member_status s) {
  m.status = s;
  timings_[m.name].since = clock_.now();
}

void membership::raise_local_health() noexcept {
  if (local_health_ < options_.max_local_health) ++local_health_;
}

void membership::lower_local_health() noexcept {
  if (local_health_ > 0) --local_health_;
}

std::optional<member_event> membership::merge_self(const member& rumour) {
  auto& me = members_.find(self_name_)->second;
  // Once leaving, this node has said its last word; what others say of it
  // no longer matters.
  if (me.status == member_status::left) return std::nullopt;
  // Anything but alive is an accusation (a `left` this node never sent
  // included); an alive at a higher incarnation than our own is another
  // node's mistake. Either way, only a higher incarnation of our own
  // settles it.
  bool accused = rumour.status != member_status::alive &&
                 rumour.incarnation >= me.incarnation;
  bool ahead = rumour.status == member_status::alive &&
               rumour.incarnation > me.incarnation;
  if (!accused && !ahead) return std::nullopt;
  me.incarnation = rumour.incarnation + 1;
  // Lifeguard: being suspected hints that this node is the slow one.
  raise_local_health();
  return member_event{member_event::kind::refuted, me};
}

std::optional<member_event> membership::merge(const member& rumour) {
  if (rumour.name.empty()) return std::nullopt;
  if (rumour.name == self_name_) return merge_self(rumour);
  auto i = members_.find(rumour.name);
  if (i == members_.end()) {
    member fresh = rumour;
    fresh.last_seen_ms = 0;
    timings_[fresh.name].since = clock_.now();
    auto& stored = members_.emplace(fresh.name, std::move(fresh)).first->second;
    // A tombstone of a member never seen still blocks older rumours of it.
    if (is_tombstone(stored.status)) return std::nullopt;
    return member_event{member_event::kind::joined, stored};
  }
  auto& known = i->second;
  if (!overrides(rumour, known)) return std::nullopt;
  auto before = known.status;
  // A restarted member may come back on new ports, with a new version.
  known.cluster_addr = rumour.cluster_addr;
  known.http_addr = rumour.http_addr;
  known.version = rumour.version;
  known.incarnation = rumour.incarnation;
  if (rumour.status != before) set_status(known, rumour.status);
  // A winning rumour is news to spread even when the status stays (a higher
  // incarnation), so it always yields an event.
  using kind = member_event::kind;
  auto what = kind::joined;
  switch (rumour.status) {
    case member_status::alive:
      what = is_tombstone(before) ? kind::joined : kind::alive;
      break;
    case member_status::suspect:
      what = is_tombstone(before) ? kind::joined : kind::suspect;
      break;
    case member_status::dead:
      what = kind::dead;
      break;
    case member_status::left:
      what = kind::left;
      break;
  }
  return member_event{what, known};
}

void membership::heard_from(std::string_view name) {
  auto i = members_.find(std::string{name});
  if (i != members_.end()) i->second.last_seen_ms = clock_.unix_ms();
}

std::optional<member_event> membership::probe_failed(std::string_view name) {
  auto i = members_.find(std::string{name});
  if (i == members_.end() || i->first == self_name_ ||
      i->second.status != member_status::alive)
    return std::nullopt;
  set_status(i->second, member_status::suspect);
  return member_event{member_event::kind::suspect, i->second};
}

void membership::probe_succeeded() noexcept {
  lower_local_health();
}

void membership::ack_missed() noexcept {
  raise_local_health();
}

void membership::nack_heard() noexcept {
  lower_local_health();
}

void membership::timer_fired(std::chrono::milliseconds lateness) noexcept {
  if (lateness > options_.probe_interval / 2) raise_local_health();
}

std::chrono::milliseconds membership::probe_timeout() const noexcept {
  return options_.probe_timeout * (local_health_ + 1);
}

std::chrono::milliseconds membership::suspicion_timeout() const noexcept {
  auto n = count(member_status::alive) + count(member_status::suspect);
  auto scale = std::max(1.0, std::log10(static_cast<double>(n)));
  auto ms = static_cast<double>(options_.suspicion_mult) *
            static_cast<double>(options_.probe_interval.count()) * scale *
            static_cast<double>(local_health_ + 1);
  return std::chrono::milliseconds{static_cast<int64_t>(ms)};
}

std::vector<member_event> membership::tick() {
  std::vector<member_event> events;
  auto now = clock_.now();
  // One timeout for the whole tick, so that the order in which suspects
  // die does not change who dies.
  auto suspicion = suspicion_timeout();
  auto ttl = options_.tombstone_ttl;
  for (auto i = members_.begin(); i != members_.end();) {
    auto& m = i->second;
    auto since = timings_[m.name].since;
    if (m.status == member_status::suspect && now - since >= suspicion) {
      set_status(m, member_status::dead);
      events.push_back(member_event{member_event::kind::dead, m});
    } else if (is_tombstone(m.status) && m.name != self_name_ &&
               now - since >= ttl) {
      timings_.erase(m.name);
      i = members_.erase(i);
      continue;
    }
    ++i;
  }
  return events;
}

member membership::leave() {
  auto& me = members_.find(self_name_)->second;
  ++me.incarnation;
  set_status(me, member_status::left);
  return me;
}

std::optional<std::string> membership::next_probe_target(uint64_t& rng) {
  auto current = peers();
  if (current.empty()) return std::nullopt;
  for (;;) {
    if (probe_next_ >= probe_order_.size()) {
      probe_order_ = std::move(current);
      shuffle(probe_order_, rng);
      probe_next_ = 0;
      current = {};
    }
    auto& name = probe_order_[probe_next_++];
    // Members that died or were forgotten since the round began are skipped.
    auto i = members_.find(name);
    if (i != members_.end() && i->first != self_name_ &&
        !is_tombstone(i->second.status))
      return name;
  }
}

std::vector<std::string> membership::indirect_probers(std::string_view target,
                                                      uint64_t& rng) const {
  auto candidates = alive_peers();
  std::erase(candidates, target);
  auto k = std::min(options_.indirect_checks, candidates.size());
  // A partial Fisher-Yates shuffle: the first k are a random distinct choice.
  for (size_t i = 0; i < k; ++i) {
    auto j = i + static_cast<size_t>(splitmix64(rng) % (candidates.size() - i));
    std::swap(candidates[i], candidates[j]);
  }
  candidates.resize(k);
  return candidates;
}

std::optional<std::string> membership::push_pull_target(uint64_t& rng) const {
  auto candidates = alive_peers();
  if (candidates.empty()) return std::nullopt;
  return candidates[splitmix64(rng) % candidates.size()];
}

std::optional<std::string> membership::reconnect_target(uint64_t& rng) {
  auto now = clock_.now();
  if (now < next_reconnect_) return std::nullopt;
  std::vector<std::string> dead;
  for (const auto& [name, m] : members_)
    if (m.status == member_status::dead) dead.push_back(name);
  if (dead.empty()) return std::nullopt;
  next_reconnect_ = now + options_.reconnect_interval;
  return dead[splitmix64(rng) % dead.size()];
}

}  // namespace valmesh
