#include "paths.hpp"

#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace ensemble::cli {

std::string default_history_path() {
  if (const char* path = std::getenv("ENSEMBLE_HISTORY"); path != nullptr && *path != '\0') return path;
  return client::xdg_data_home() + "/ensemble/history.sqlite";
}

std::string executable_path() {
  std::error_code error;
  auto path = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? std::string("ensemble") : path.string();
}

std::string executable_dir() { return std::filesystem::path(executable_path()).parent_path().string(); }

}  // namespace ensemble::cli
