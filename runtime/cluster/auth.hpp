#pragma once

#include <string>
#include <string_view>

namespace valmesh {

/// The mutual challenge two nodes pass before either tells the other
/// anything of the catalog or the membership: each proves it knows the
/// cluster's secret by answering a fresh challenge of the other with an
/// HMAC-SHA256 over the challenge, its role and its own identity (the CAF
/// node id), so a proof can be neither replayed later nor relayed by
/// another node. Plain logic; the gateway and the cluster actor carry the
/// messages.
///
///   initiator                                   responder (gateway)
///   auth(c1)                         ->
///                                    <-         (proof(responder, c1, R), c2)
///   checks the proof against R
///   auth(c2, proof(initiator, c2, I)) ->
///                                    <-         true: I may talk now
namespace cluster_auth {

/// The two roles of a handshake; part of what a proof covers.
inline constexpr std::string_view initiator = "initiator";
inline constexpr std::string_view responder = "responder";

/// A fresh challenge: 32 random bytes from the system's CSPRNG, as hex.
std::string new_challenge();

/// The proof that `prover` (a node id) knows `secret`, answering
/// `challenge` in `role`: hex HMAC-SHA256 of
/// "valmesh-cluster-auth/1\n" role "\n" challenge "\n" prover.
std::string proof(std::string_view secret, std::string_view role,
                  std::string_view challenge, std::string_view prover);

/// Whether `given` is the proof of `prover` for `challenge` in `role`
/// (compared in constant time).
bool verify(std::string_view secret, std::string_view role,
            std::string_view challenge, std::string_view prover,
            std::string_view given);

}  // namespace cluster_auth

}  // namespace valmesh
