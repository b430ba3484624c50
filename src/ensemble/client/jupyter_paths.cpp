#include "ensemble/client/jupyter_paths.hpp"

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace ensemble::client {

namespace {
std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::string(value) : std::string();
}
}  // namespace

std::string home_dir() {
  if (auto home = env_or_empty("HOME"); !home.empty()) return home;
  if (const passwd* entry = getpwuid(getuid())) return entry->pw_dir;
  return "/tmp";
}

std::string xdg_data_home() {
  if (auto dir = env_or_empty("XDG_DATA_HOME"); !dir.empty()) return dir;
  return home_dir() + "/.local/share";
}

std::string jupyter_data_dir() {
  if (auto dir = env_or_empty("JUPYTER_DATA_DIR"); !dir.empty()) return dir;
  return xdg_data_home() + "/jupyter";
}

std::string jupyter_runtime_dir() {
  if (auto dir = env_or_empty("JUPYTER_RUNTIME_DIR"); !dir.empty()) return dir;
  return jupyter_data_dir() + "/runtime";
}

bool make_private_dirs(const std::string& path) {
  // mkdir() each prefix in turn rather than std::filesystem::create_directories,
  // so that only the directories created here get 0700 and existing ones
  // (e.g. ~/.local) keep their mode.
  for (std::size_t end = path.find('/', 1);; end = path.find('/', end + 1)) {
    std::string prefix = path.substr(0, end);
    if (!prefix.empty() && ::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) return false;
    if (end == std::string::npos) break;
  }
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

}  // namespace ensemble::client
