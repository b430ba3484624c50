// Jupyter kernelspecs: finding and reading kernel.json the way jupyter_client
// does, so `ensemble console --kernel NAME` starts any installed kernel.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ensemble/wire/status.hpp"

namespace ensemble::client {

struct KernelSpec {
  std::string name;
  std::string resource_dir;            // the directory holding kernel.json
  std::vector<std::string> argv;       // with "{connection_file}" (and "{resource_dir}") placeholders
  std::string display_name;
  std::string language;
  std::string interrupt_mode = "signal";  // "signal" or "message"
  std::map<std::string, std::string> env;
};

// The directories searched for kernels/, highest priority first:
// each $JUPYTER_PATH entry, the user data dir ($JUPYTER_DATA_DIR or
// ~/.local/share/jupyter), /usr/local/share/jupyter, /usr/share/jupyter.
std::vector<std::string> kernelspec_search_dirs();

// Errors: kNotFound (no such kernel), kMalformed (kernel.json unreadable or
// without argv).
wire::Result<KernelSpec> find_kernelspec(const std::string& name);
wire::Result<KernelSpec> read_kernelspec(const std::string& resource_dir, const std::string& name);
// Every kernelspec found, first occurrence of each name wins.
std::vector<KernelSpec> list_kernelspecs();

}  // namespace ensemble::client
