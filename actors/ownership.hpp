#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/cluster/rendezvous.hpp"
#include "runtime/registry/service_instance.hpp"

namespace valmesh {

/// Which node judges which instance (its health checks, its lease, its
/// removal when critical too long): the rendezvous-hash winner of the
/// instance over the owner candidates (the alive members; on the minority
/// side of a partition, every member not left). Shared by the actors that ask (the
/// registry, the health supervisor) and the cluster actor that tells it
/// who is alive; safe from any thread. A node alone judges everything.
class ownership {
 public:
  explicit ownership(std::string self) : self_(std::move(self)) {
    alive_ = std::make_shared<const std::vector<std::string>>(
        std::vector<std::string>{self_});
  }

  /// The node that judges `x`.
  std::string owner_of(const service_instance& x) const {
    return rendezvous_owner(key_of(x), *alive());
  }

  /// Whether this node judges `x`.
  bool judges(const service_instance& x) const {
    auto members = alive();
    if (members->size() <= 1) return true;
    return rendezvous_owner(key_of(x), *members) == self_;
  }

  /// Takes the owner candidates (this node among them, sorted); returns
  /// whether the set changed.
  bool set_candidates(std::vector<std::string> names) {
    auto next =
        std::make_shared<const std::vector<std::string>>(std::move(names));
    std::lock_guard<std::mutex> guard{mtx_};
    if (*next == *alive_) return false;
    alive_ = std::move(next);
    return true;
  }

  const std::string& self() const noexcept { return self_; }

 private:
  static std::string key_of(const service_instance& x) {
    return x.name + "/" + x.id;
  }

  std::shared_ptr<const std::vector<std::string>> alive() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return alive_;
  }

  std::string self_;
  mutable std::mutex mtx_;
  std::shared_ptr<const std::vector<std::string>> alive_;
};

}  // namespace valmesh
