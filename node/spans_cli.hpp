#pragma once

// `valmesh spans [--limit N] [--trace ID] [--service S] [--json]` (README.md):
// the agent's recent finished spans as a table, or one trace as a tree.

#include <string>

#include <CLI/CLI.hpp>

namespace valmesh {

struct spans_command {
  std::string addr, token, trace, service;
  int limit = 100;
  bool json = false;
  CLI::App* cmd = nullptr;
};

/// Adds the `spans` subcommand to `app`, writing its flags into `c`.
void add_spans_command(CLI::App& app, spans_command& c);

/// Runs it; returns the exit code (0 ok, 1 agent error or no such trace,
/// 2 usage, 3 unreachable).
int run_spans_command(const spans_command& c);

}  // namespace valmesh
