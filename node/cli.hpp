#pragma once

#include <string>
#include <vector>

namespace valmesh {

/// Exit codes of every `valmesh` command (README.md, "The command line").
namespace exit_code {
inline constexpr int ok = 0;
inline constexpr int agent_error = 1;  ///< the agent answered with an error
inline constexpr int usage = 2;        ///< bad flags, config or input
inline constexpr int unreachable = 3;  ///< no agent at --addr
}  // namespace exit_code

/// Runs the `valmesh` command line; returns the process exit code.
int run_cli(int argc, char** argv);

/// Prints rows as columns padded to their widest cell (client tables).
void print_table(const std::vector<std::vector<std::string>>& rows);

}  // namespace valmesh
