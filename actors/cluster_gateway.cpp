#include "actors/cluster_gateway.hpp"

#include <map>
#include <set>

#include <spdlog/spdlog.h>

#include "runtime/cluster/auth.hpp"

namespace valmesh {

namespace {

caf::error restarting(const char* who) {
  return make_error(errc::unavailable,
                    std::string{who} + " of this node is restarting");
}

/// Who passed the challenge, and the challenges still open.
struct guard {
  /// At most this many challenges open at once (the oldest is dropped), so
  /// a flood of half handshakes cannot grow memory.
  static constexpr size_t max_open = 1024;
  std::set<caf::node_id> trusted;
  std::map<caf::node_id, std::string> open;
  std::set<caf::node_id> warned;
};

caf::behavior gateway_impl(caf::event_based_actor* self, gateway_targets t) {
  auto cluster = [t] { return t.cluster ? t.cluster() : cluster_actor{}; };
  auto registry = [t] { return t.registry ? t.registry() : registry_actor{}; };
  auto g = std::make_shared<guard>();
  auto sender_node = [self] {
    auto& s = self->current_sender();
    return s ? s->node() : caf::node_id{};
  };
  // Whether the sender may talk: there is no secret, or it passed.
  auto trusted = [=] {
    if (t.secret.empty()) return true;
    auto n = sender_node();
    if (g->trusted.count(n) > 0) return true;
    if (g->warned.insert(n).second)
      spdlog::warn(
          "cluster: refused a message from node {}: it has not proved that "
          "it knows the cluster secret",
          caf::to_string(n));
    return false;
  };
  auto refused = [] {
    return make_error(errc::forbidden,
                      "prove that you know the cluster secret first");
  };
  return {
      [=](auth_atom,
          std::string& challenge) -> caf::result<std::string, std::string> {
        if (t.secret.empty())
          return make_error(errc::forbidden, "this node has no cluster secret");
        auto n = sender_node();
        if (n == caf::node_id{}) return refused();
        if (g->open.size() >= guard::max_open) g->open.erase(g->open.begin());
        auto mine = cluster_auth::new_challenge();
        g->open[n] = mine;
        return {cluster_auth::proof(t.secret, cluster_auth::responder,
                                    challenge, caf::to_string(self->node())),
                mine};
      },
      [=](auth_atom, std::string& challenge, std::string& proof) -> bool {
        auto n = sender_node();
        auto i = g->open.find(n);
        if (i == g->open.end() || i->second != challenge) {
          spdlog::warn("cluster: node {} answered a challenge it was not given",
                       caf::to_string(n));
          return false;
        }
        g->open.erase(i);
        if (!cluster_auth::verify(t.secret, cluster_auth::initiator, challenge,
                                  caf::to_string(n), proof)) {
          spdlog::warn(
              "cluster: node {} does not know the cluster secret; refused",
              caf::to_string(n));
          return false;
        }
        g->trusted.insert(n);
        g->warned.erase(n);
        return true;
      },
      [=](join_atom a, member& m) -> caf::result<std::vector<member>> {
        if (!trusted()) return refused();
        if (auto c = cluster()) return self->delegate(c, a, std::move(m));
        return restarting("the cluster actor");
      },
      [=](sync_atom a,
          std::vector<member>& xs) -> caf::result<std::vector<member>> {
        if (!trusted()) return refused();
        if (auto c = cluster()) return self->delegate(c, a, std::move(xs));
        return restarting("the cluster actor");
      },
      [=](ping_atom a, std::string& from) -> caf::result<uint64_t> {
        if (!trusted()) return refused();
        if (auto c = cluster()) return self->delegate(c, a, std::move(from));
        return restarting("the cluster actor");
      },
      [=](ping_req_atom a, std::string& target) -> caf::result<bool> {
        if (!trusted()) return refused();
        if (auto c = cluster()) return self->delegate(c, a, std::move(target));
        return restarting("the cluster actor");
      },
      [=](gossip_atom a, std::vector<member>& xs) {
        if (!trusted()) return;
        if (auto c = cluster()) self->send(c, a, std::move(xs));
      },
      [=](tree_atom a) -> caf::result<std::string> {
        if (!trusted()) return refused();
        if (auto c = cluster()) return self->delegate(c, a);
        return restarting("the cluster actor");
      },
      [=](merge_atom a, std::vector<catalog_entry>& xs) {
        if (!trusted()) return;
        if (t.meter)
          t.meter->replication(false, xs.size(), wire_size(self->system(), xs));
        if (auto r = registry()) self->send(r, a, std::move(xs));
      },
      [=](digest_atom a) -> caf::result<catalog_digest> {
        if (!trusted()) return refused();
        if (auto r = registry()) return self->delegate(r, a);
        return restarting("the registry");
      },
      [=](entries_atom a, std::vector<uint32_t>& buckets)
          -> caf::result<std::vector<catalog_entry>> {
        if (!trusted()) return refused();
        if (auto r = registry())
          return self->delegate(r, a, std::move(buckets));
        return restarting("the registry");
      },
  };
}

}  // namespace
caf::actor spawn_cluster_gateway(caf::actor_system& sys,
                                 gateway_targets targets) {
  return sys.spawn(gateway_impl, std::move(targets));
}

}  // namespace valmesh
