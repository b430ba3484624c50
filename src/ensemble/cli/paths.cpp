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

std::vector<std::string> package_paths() {
  // The build tree keeps the package in build/python beside build/bin; an
  // installed binary has it in PREFIX/<ENSEMBLE_PY_INSTALL_DIR> beside PREFIX/bin.
  std::vector<std::string> paths;
  std::filesystem::path bin = executable_dir();
  for (auto candidate : {bin / ".." / "python", bin / ".." / ENSEMBLE_PY_INSTALL_DIR}) {
    std::error_code error;
    if (std::filesystem::exists(candidate / "ensemble" / "__init__.py", error)) {
      paths.push_back(std::filesystem::weakly_canonical(candidate, error).string());
      break;
    }
  }
  return paths;
}

}  // namespace ensemble::cli
