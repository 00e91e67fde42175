#pragma once

// `valmesh stat [SERVICE] [--window 1m] [--watch] [--json]` (README.md): the
// golden signals of every service, or of one and its instances, as
// `linkerd viz stat` prints them.

#include <string>

#include <CLI/CLI.hpp>

namespace valmesh {

struct stat_command {
  std::string addr, token, service, window = "1m";
  bool watch = false;
  bool json = false;
  CLI::App* cmd = nullptr;
};

/// Adds the `stat` subcommand to `app`, writing its flags into `c`.
void add_stat_command(CLI::App& app, stat_command& c);

/// Runs it; returns the exit code (0 ok, 1 agent error, 2 usage,
/// 3 unreachable). With `--watch` it redraws every second until killed.
int run_stat_command(const stat_command& c);

}  // namespace valmesh
