#include "cluster_priority.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string_view>

namespace ensemble::cli {

int default_cluster_nice() {
  const char* text = std::getenv("ENSEMBLE_CLUSTER_NICE");
  if (text == nullptr || *text == '\0') return kDefaultClusterNice;
  std::string_view value(text);
  int nice = 0;
  auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), nice);
  if (error != std::errc() || end != value.data() + value.size() || nice < kLeastClusterNice ||
      nice > kMostClusterNice) {
    std::cerr << "ensemble cluster: ignoring ENSEMBLE_CLUSTER_NICE=" << value << " (not 0 to 19); using "
              << kDefaultClusterNice << std::endl;
    return kDefaultClusterNice;
  }
  return nice;
}

void stand_back_from_users_session(int nice) {
  if (nice <= kLeastClusterNice) return;
  if (nice > kMostClusterNice) nice = kMostClusterNice;
  errno = 0;
  int current = ::getpriority(PRIO_PROCESS, 0);  // -1 is also a valid nice value: errno tells
  if (errno == 0 && current < nice && ::setpriority(PRIO_PROCESS, 0, nice) != 0) {
    spdlog::debug("cluster session: cannot set nice {}: {}", nice, std::strerror(errno));
  }
  // The session's autogroup is what the scheduler weighs against the user's session.
  std::ofstream autogroup("/proc/self/autogroup");
  if (!autogroup || !(autogroup << nice << std::flush)) {
    spdlog::debug("cluster session: no autogroup nice {} (a kernel without autogroups?)", nice);
  }
}

}  // namespace ensemble::cli
