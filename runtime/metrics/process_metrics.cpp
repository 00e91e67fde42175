#include "runtime/metrics/process_metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace valmesh {

namespace {

/// The system's boot time (seconds since the epoch), from /proc/stat.
double boot_time() {
  std::ifstream in{"/proc/stat"};
  std::string key;
  while (in >> key) {
    if (key == "btime") {
      double t = 0;
      in >> t;
      return t;
    }
    in.ignore(1 << 16, '\n');
  }
  return 0;
}

void gauge(std::string& out, const char* name, const char* type,
           const char* help, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  out.append("# HELP ").append(name).append(1, ' ').append(help);
  out.append("\n# TYPE ").append(name).append(1, ' ').append(type);
  out.append(1, '\n').append(name).append(1, ' ').append(buf).append(1, '\n');
}

}  // namespace

process_figures read_process_figures() {
  process_figures p;
  static const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  static const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  std::ifstream in{"/proc/self/stat"};
  std::string line;
  if (std::getline(in, line)) {
    // After the command's closing parenthesis: field 3 (state) onwards.
    auto at = line.rfind(')');
    if (at != std::string::npos) {
      std::istringstream fields{line.substr(at + 2)};
      std::string x;
      double utime = 0, stime = 0, start = 0, vsize = 0, rss = 0;
      for (int field = 3; fields >> x && field <= 24; ++field) {
        if (field == 14) utime = std::stod(x);
        if (field == 15) stime = std::stod(x);
        if (field == 22) start = std::stod(x);
        if (field == 23) vsize = std::stod(x);
        if (field == 24) rss = std::stod(x);
      }
      p.cpu_seconds = (utime + stime) / ticks;
      p.virtual_bytes = vsize;
      p.resident_bytes = rss * page;
      static const double boot = boot_time();
      p.start_time_seconds = boot + start / ticks;
    }
  }
  if (auto* d = opendir("/proc/self/fd")) {
    size_t n = 0;
    while (auto* e = readdir(d))
      if (e->d_name[0] != '.') ++n;
    closedir(d);
    p.open_fds = static_cast<double>(n > 0 ? n - 1 : 0);  // not the dir's own
  }
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0)
    p.max_fds = static_cast<double>(lim.rlim_cur);
  return p;
}

void write_process_metrics(std::string& out, const process_figures& p) {
  gauge(out, "process_cpu_seconds_total", "counter",
        "Total user and system CPU time spent in seconds.", p.cpu_seconds);
  gauge(out, "process_open_fds", "gauge", "Number of open file descriptors.",
        p.open_fds);
  gauge(out, "process_max_fds", "gauge",
        "Maximum number of open file descriptors.", p.max_fds);
  gauge(out, "process_virtual_memory_bytes", "gauge",
        "Virtual memory size in bytes.", p.virtual_bytes);
  gauge(out, "process_resident_memory_bytes", "gauge",
        "Resident memory size in bytes.", p.resident_bytes);
  gauge(out, "process_start_time_seconds", "gauge",
        "Start time of the process since unix epoch in seconds.",
        p.start_time_seconds);
}

void write_build_info(std::string& out, const std::string& version) {
  out.append(
      "# HELP valmesh_build_info The build of this node: always 1, its "
      "release in the label\n# TYPE valmesh_build_info gauge\n"
      "valmesh_build_info{version=\"");
  out.append(version).append("\"} 1\n");
}

}  // namespace valmesh
