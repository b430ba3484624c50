#include "paths.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace ensemble::cli {

namespace {
std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::string(value) : std::string();
}
}  // namespace

std::string home_dir() {
  std::string home = env_or_empty("HOME");
  if (!home.empty()) return home;
  if (const passwd* entry = getpwuid(getuid())) return entry->pw_dir;
  return "/tmp";
}

std::string jupyter_runtime_dir() {
  if (auto dir = env_or_empty("JUPYTER_RUNTIME_DIR"); !dir.empty()) return dir;
  return jupyter_data_dir() + "/runtime";
}

std::string jupyter_data_dir() {
  if (auto dir = env_or_empty("JUPYTER_DATA_DIR"); !dir.empty()) return dir;
  if (auto dir = env_or_empty("XDG_DATA_HOME"); !dir.empty()) return dir + "/jupyter";
  return home_dir() + "/.local/share/jupyter";
}

std::string default_history_path() {
  if (auto path = env_or_empty("ENSEMBLE_HISTORY"); !path.empty()) return path;
  std::string data = env_or_empty("XDG_DATA_HOME");
  if (data.empty()) data = home_dir() + "/.local/share";
  return data + "/ensemble/history.sqlite";
}

std::string executable_path() {
  std::error_code error;
  auto path = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? std::string("ensemble") : path.string();
}

std::string executable_dir() {
  return std::filesystem::path(executable_path()).parent_path().string();
}

bool make_dirs(const std::string& path) {
  std::error_code error;
  std::filesystem::path target(path);
  if (std::filesystem::is_directory(target, error)) return true;
  std::filesystem::create_directories(target, error);
  if (error) return false;
  std::filesystem::permissions(target, std::filesystem::perms::owner_all, error);
  return true;
}

}  // namespace ensemble::cli
