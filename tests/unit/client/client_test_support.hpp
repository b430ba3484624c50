// Shared by the client tests: temporary directories, environment variables
// restored on scope exit, and kernelspecs written to disk.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace ensemble::client::testing {

// A fresh directory under /tmp, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "ensemble-client-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Sets (or with nullopt, unsets) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const std::optional<std::string>& value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    if (value) {
      setenv(name_.c_str(), value->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

// Writes <data_dir>/kernels/<dir_name>/kernel.json with `text`; returns the
// kernel's directory.
inline std::string write_kernel_json(const std::string& data_dir, const std::string& dir_name,
                                     const std::string& text) {
  std::filesystem::path dir = std::filesystem::path(data_dir) / "kernels" / dir_name;
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "kernel.json") << text;
  return dir.string();
}

inline std::string write_kernel_json(const std::string& data_dir, const std::string& dir_name,
                                     const nlohmann::json& spec) {
  return write_kernel_json(data_dir, dir_name, spec.dump(2));
}

// A kernelspec running ipykernel under Debian's Python.
inline nlohmann::json ipykernel_spec() {
  return {{"argv", {"/usr/bin/python3", "-m", "ipykernel_launcher", "-f", "{connection_file}"}},
          {"display_name", "Python 3 (ipykernel)"},
          {"language", "python"}};
}

}  // namespace ensemble::client::testing
