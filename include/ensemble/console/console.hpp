// `ensemble console`: the terminal front end for any Jupyter kernel.
// Interactive (libedit line editing, completion, multi-line cells, other
// clients' activity) when stdin is a terminal; otherwise it runs the cells
// read from stdin and exits non-zero if one raised.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ensemble::console {

struct ConsoleOptions {
  std::string kernel_name = "ensemble";           // kernelspec to start
  std::optional<std::string> existing;            // attach instead: a connection file, "" = the newest
  bool confirm_exit = true;
  std::string history_file;                       // "" = ~/.local/share/ensemble/console_history
  std::string username;                           // "" = $USER
  std::map<std::string, std::string> kernel_env;  // extra environment for a started kernel
  // How to start an Ensemble kernel when no "ensemble" kernelspec is
  // installed (the CLI passes its own binary), so the console works from a
  // build tree.
  std::vector<std::string> builtin_kernel_argv;
};

// Runs the console to the end; returns the process exit code.
int run_console(const ConsoleOptions& options);

}  // namespace ensemble::console
