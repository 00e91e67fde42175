#include "runtime/metrics/actor_metrics.hpp"

#include "runtime/metrics/mesh_stats.hpp"
#include "runtime/metrics/text_writer.hpp"

namespace valmesh {

void write_actor_metrics(std::string& out, const actor_figures_by_kind& xs) {
  text_writer w{out};
  struct def {
    const char* name;
    const char* type;
    const char* help;
    uint64_t actor_kind_figures::*field;
  };
  static const def defs[] = {
      {"valmesh_actors", "gauge",
       "Actors of the supervision tree that answered, by kind",
       &actor_kind_figures::actors},
      {"valmesh_actors_unresponsive", "gauge",
       "Actors that did not answer the scrape's walk of the tree in time, by "
       "kind",
       &actor_kind_figures::unresponsive},
      {"valmesh_actor_mailbox_size", "gauge",
       "Messages waiting in the actors' mailboxes, summed by kind",
       &actor_kind_figures::mailbox_size},
      {"valmesh_actor_messages_handled_total", "counter",
       "Messages handled by the actors alive now, summed by kind",
       &actor_kind_figures::messages_handled},
      {"valmesh_actor_restarts_total", "counter",
       "Restarts of actors by their supervisors, summed by kind",
       &actor_kind_figures::restarts},
  };
  for (auto& d : defs) {
    w.family(d.name, d.type, d.help);
    for (auto& [kind, x] : xs)
      w.sample(d.name, "kind=\"" + escape_label_value(kind) + "\"", x.*d.field);
  }
}

}  // namespace valmesh
