#include "ensemble/client/kernelspec.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "ensemble/client/jupyter_paths.hpp"
#include "ensemble/wire/message.hpp"

namespace ensemble::client {

namespace fs = std::filesystem;
using wire::Result;
using wire::Status;
using wire::StatusCode;

namespace {

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

Status malformed(const std::string& file, const std::string& why) {
  return Status::Error(StatusCode::kMalformed, file + ": " + why);
}

bool is_kernel_dir(const fs::path& dir) {
  std::error_code error;
  return fs::is_regular_file(dir / "kernel.json", error);
}

// The subdirectories of `kernels_dir` that hold a kernel.json, sorted so that
// two names differing only in case resolve the same way on every run.
std::vector<fs::path> kernel_dirs_in(const std::string& kernels_dir) {
  std::vector<fs::path> found;
  std::error_code error;
  for (fs::directory_iterator it(kernels_dir, error), end; !error && it != end; it.increment(error)) {
    if (is_kernel_dir(it->path())) found.push_back(it->path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

// Reads an optional string field; false if present with another type.
bool read_string(const wire::Json& json, const char* field, std::string& out) {
  auto it = json.find(field);
  if (it == json.end() || it->is_null()) return true;
  if (!it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

}  // namespace

std::vector<std::string> kernelspec_search_dirs() {
  std::vector<std::string> dirs;
  auto add = [&dirs](const std::string& data_dir) {
    if (data_dir.empty()) return;
    std::string kernels = data_dir + "/kernels";
    if (std::find(dirs.begin(), dirs.end(), kernels) == dirs.end()) dirs.push_back(std::move(kernels));
  };
  if (const char* jupyter_path = std::getenv("JUPYTER_PATH")) {
    std::stringstream entries(jupyter_path);
    for (std::string entry; std::getline(entries, entry, ':');) add(entry);
  }
  add(jupyter_data_dir());
  add("/usr/local/share/jupyter");
  add("/usr/share/jupyter");
  return dirs;
}

Result<KernelSpec> read_kernelspec(const std::string& resource_dir, const std::string& name) {
  std::string file = resource_dir + "/kernel.json";
  std::ifstream in(file, std::ios::binary);
  if (!in) return Status::Error(StatusCode::kNotFound, "cannot read " + file);
  std::ostringstream text;
  text << in.rdbuf();
  wire::Json json = wire::Json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return malformed(file, "not valid JSON");
  if (!json.is_object()) return malformed(file, "not a JSON object");

  KernelSpec spec;
  spec.name = name;
  spec.resource_dir = resource_dir;
  auto argv = json.find("argv");
  if (argv == json.end() || !argv->is_array() || argv->empty()) return malformed(file, "argv is missing or empty");
  for (const auto& arg : *argv) {
    if (!arg.is_string()) return malformed(file, "argv holds a non-string");
    spec.argv.push_back(arg.get<std::string>());
  }
  spec.display_name = name;
  if (!read_string(json, "display_name", spec.display_name) || !read_string(json, "language", spec.language) ||
      !read_string(json, "interrupt_mode", spec.interrupt_mode)) {
    return malformed(file, "display_name, language or interrupt_mode is not a string");
  }
  if (spec.interrupt_mode != "signal" && spec.interrupt_mode != "message") {
    return malformed(file, "interrupt_mode must be \"signal\" or \"message\"");
  }
  if (auto env = json.find("env"); env != json.end() && !env->is_null()) {
    if (!env->is_object()) return malformed(file, "env is not an object");
    for (const auto& [key, value] : env->items()) {
      if (!value.is_string()) return malformed(file, "env value for " + key + " is not a string");
      spec.env[key] = value.get<std::string>();
    }
  }
  return spec;
}

Result<KernelSpec> find_kernelspec(const std::string& name) {
  // As jupyter_client: the first directory whose lowercased name matches
  // wins, even if its kernel.json turns out to be malformed.
  std::string wanted = lowercase(name);
  for (const auto& kernels_dir : kernelspec_search_dirs()) {
    for (const auto& dir : kernel_dirs_in(kernels_dir)) {
      if (lowercase(dir.filename().string()) == wanted) return read_kernelspec(dir.string(), wanted);
    }
  }
  return Status::Error(StatusCode::kNotFound, "no kernelspec named '" + name + "'");
}

std::vector<KernelSpec> list_kernelspecs() {
  std::vector<KernelSpec> specs;
  std::set<std::string> seen;
  for (const auto& kernels_dir : kernelspec_search_dirs()) {
    for (const auto& dir : kernel_dirs_in(kernels_dir)) {
      std::string name = lowercase(dir.filename().string());
      if (!seen.insert(name).second) continue;  // shadowed by a higher-priority directory
      auto spec = read_kernelspec(dir.string(), name);
      if (spec.ok()) {
        specs.push_back(std::move(spec).value());
      } else {
        spdlog::warn("skipping kernelspec {}: {}", name, spec.status().to_string());
      }
    }
  }
  return specs;
}

}  // namespace ensemble::client
