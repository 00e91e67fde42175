#include "actors/events.hpp"

#include <map>
#include <memory>

namespace valmesh {

namespace {

struct events_state {
  static inline const char* name = "events";
  std::unique_ptr<event_log> log;
  std::map<uint64_t, event_sink> sinks;
  uint64_t next_subscription = 1;
};

using events_pointer = metered_pointer<events_actor, events_state>;

events_actor::behavior_type events_impl(events_pointer self, size_t backlog) {
  self->state.log = std::make_unique<event_log>(backlog);
  return {
      [self](inspect_atom) { return self->figures("events"); },
      [self](publish_atom, std::string& type, std::string& data) {
        auto& e = self->state.log->append(std::move(type), std::move(data));
        for (auto& [_, sink] : self->state.sinks) sink(e);
      },
      [self](publish_atom,
             std::vector<std::pair<std::string, std::string>>& events) {
        for (auto& [type, data] : events) {
          auto& e = self->state.log->append(std::move(type), std::move(data));
          for (auto& [_, sink] : self->state.sinks) sink(e);
        }
      },
      [self](subscribe_atom, event_sink& sink, uint64_t last_event_id) {
        auto& st = self->state;
        if (last_event_id > 0) {
          uint64_t missed = 0;
          auto replay = st.log->since(last_event_id, missed);
          if (missed > 0)
            sink(event_record{0, "lagged",
                              "{\"missed\":" + std::to_string(missed) + "}"});
          for (auto& e : replay) sink(e);
        }
        auto id = st.next_subscription++;
        st.sinks.emplace(id, std::move(sink));
        return id;
      },
      [self](unsub_atom, uint64_t id) { self->state.sinks.erase(id); },
      [self](stats_atom) {
        return caf::make_result(static_cast<uint64_t>(self->state.sinks.size()),
                                self->state.log->last_id());
      },
  };
}

}  // namespace

events_actor spawn_events(caf::actor_system& sys, size_t backlog) {
  return sys.spawn(events_impl, backlog);
}

}  // namespace valmesh
