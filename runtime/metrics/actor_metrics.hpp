#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace valmesh {

/// The actors of one kind (`registry`, `breaker`, `health_checker`...),
/// summed: per-service and per-instance actors show as one series per kind,
/// so the series stay as many as the kinds, whatever the catalog holds.
struct actor_kind_figures {
  uint64_t actors = 0;  ///< alive and answering
  uint64_t unresponsive =
      0;  ///< alive, but no answer within the walk's timeout
  uint64_t mailbox_size = 0;      ///< messages waiting, summed
  uint64_t messages_handled = 0;  ///< by the actors alive now, summed
  uint64_t restarts = 0;          ///< by their supervisors, summed
};

/// Actor kinds by name.
using actor_figures_by_kind = std::map<std::string, actor_kind_figures>;

/// Appends `valmesh_actors{kind}`, `valmesh_actors_unresponsive{kind}`,
/// `valmesh_actor_mailbox_size{kind}`,
/// `valmesh_actor_messages_handled_total{kind}` and
/// `valmesh_actor_restarts_total{kind}` in the text format 0.0.4.
void write_actor_metrics(std::string& out, const actor_figures_by_kind& xs);

}  // namespace valmesh
