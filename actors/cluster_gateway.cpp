#include "actors/cluster_gateway.hpp"

namespace valmesh {

namespace {

caf::error restarting(const char* who) {
  return make_error(errc::unavailable,
                    std::string{who} + " of this node is restarting");
}

caf::behavior gateway_impl(caf::event_based_actor* self, gateway_targets t) {
  auto cluster = [t] { return t.cluster ? t.cluster() : cluster_actor{}; };
  auto registry = [t] { return t.registry ? t.registry() : registry_actor{}; };
  return {
      [=](join_atom a, member& m) -> caf::result<std::vector<member>> {
        if (auto c = cluster()) return self->delegate(c, a, std::move(m));
        return restarting("the cluster actor");
      },
      [=](sync_atom a,
          std::vector<member>& xs) -> caf::result<std::vector<member>> {
        if (auto c = cluster()) return self->delegate(c, a, std::move(xs));
        return restarting("the cluster actor");
      },
      [=](ping_atom a, std::string& from) -> caf::result<uint64_t> {
        if (auto c = cluster()) return self->delegate(c, a, std::move(from));
        return restarting("the cluster actor");
      },
      [=](ping_req_atom a, std::string& target) -> caf::result<bool> {
        if (auto c = cluster()) return self->delegate(c, a, std::move(target));
        return restarting("the cluster actor");
      },
      [=](gossip_atom a, std::vector<member>& xs) {
        if (auto c = cluster()) self->send(c, a, std::move(xs));
      },
      [=](tree_atom a) -> caf::result<std::string> {
        if (auto c = cluster()) return self->delegate(c, a);
        return restarting("the cluster actor");
      },
      [=](merge_atom a, std::vector<catalog_entry>& xs) {
        if (t.meter)
          t.meter->replication(false, xs.size(),
                               wire_size(self->system(), xs));
        if (auto r = registry()) self->send(r, a, std::move(xs));
      },
      [=](digest_atom a) -> caf::result<catalog_digest> {
        if (auto r = registry()) return self->delegate(r, a);
        return restarting("the registry");
      },
      [=](entries_atom a, std::vector<uint32_t>& buckets)
          -> caf::result<std::vector<catalog_entry>> {
        if (auto r = registry()) return self->delegate(r, a, std::move(buckets));
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
