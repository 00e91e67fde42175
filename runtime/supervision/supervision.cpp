#include "runtime/supervision/supervision.hpp"

namespace valmesh {

std::string_view to_string(restart_type x) noexcept {
  switch (x) {
    case restart_type::permanent:
      return "permanent";
    case restart_type::transient:
      return "transient";
    case restart_type::temporary:
      return "temporary";
  }
  return "permanent";
}

std::string_view to_string(restart_strategy x) noexcept {
  switch (x) {
    case restart_strategy::one_for_one:
      return "one_for_one";
    case restart_strategy::one_for_all:
      return "one_for_all";
    case restart_strategy::rest_for_one:
      return "rest_for_one";
  }
  return "one_for_one";
}

bool should_restart(restart_type t, bool abnormal) noexcept {
  switch (t) {
    case restart_type::permanent:
      return true;
    case restart_type::transient:
      return abnormal;
    case restart_type::temporary:
      return false;
  }
  return false;
}

supervision_decision supervisor_policy::on_exit(
    size_t index, const std::vector<restart_type>& types,
    const std::vector<bool>& running, bool abnormal, clock::time_point now) {
  using action = supervision_decision::action;
  supervision_decision d;
  if (index >= types.size() || !should_restart(types[index], abnormal))
    return d;  // forget
  if (!window_.record(now)) {
    d.what = action::escalate;
    return d;
  }
  d.what = action::restart;
  // The range of siblings the strategy takes down with the child.
  size_t first = index, last = index;
  switch (strategy_) {
    case restart_strategy::one_for_one:
      break;
    case restart_strategy::one_for_all:
      first = 0;
      last = types.size() - 1;
      break;
    case restart_strategy::rest_for_one:
      last = types.size() - 1;
      break;
  }
  for (size_t i = last + 1; i-- > first;)
    if (i != index && i < running.size() && running[i]) d.stop.push_back(i);
  for (size_t i = first; i <= last; ++i) {
    if (i == index) {
      d.start.push_back(i);
      continue;
    }
    bool was_running = i < running.size() && running[i];
    if (was_running && types[i] != restart_type::temporary)
      d.start.push_back(i);
  }
  return d;
}

}  // namespace valmesh
