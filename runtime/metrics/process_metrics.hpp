#pragma once

#include <string>

namespace valmesh {

/// This process's figures, read from /proc at scrape time.
struct process_figures {
  double cpu_seconds = 0;         ///< user and system time
  double resident_bytes = 0;      ///< RSS
  double virtual_bytes = 0;       ///< VSZ
  double open_fds = 0;            ///< entries of /proc/self/fd
  double max_fds = 0;             ///< RLIMIT_NOFILE's soft limit
  double start_time_seconds = 0;  ///< since the Unix epoch
};

/// Reads this process's figures (zeros where /proc cannot be read).
process_figures read_process_figures();

/// Appends the standard process metrics every Prometheus client library
/// exports (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
/// `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`,
/// `process_start_time_seconds`) to `out`.
void write_process_metrics(std::string& out, const process_figures& p);

/// Appends `valmesh_build_info{version} 1`.
void write_build_info(std::string& out, const std::string& version);

}  // namespace valmesh
