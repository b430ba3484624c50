#include <cstdlib>
#include <memory>

#include "commands.hpp"
#include "ensemble/console/console.hpp"
#include "paths.hpp"

namespace ensemble::cli {

Subcommand add_console_command(CLI::App& app) {
  auto options = std::make_shared<console::ConsoleOptions>();
  auto existing = std::make_shared<std::string>();
  auto no_confirm = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand("console", "The terminal front end for any Jupyter kernel");
  sub->add_option("--kernel", options->kernel_name, "Kernelspec to start (default: ensemble)");
  auto* attach = sub->add_option("--existing", *existing,
                                 "Attach to a running kernel: a connection file, or the newest one if none is given")
                     ->expected(0, 1);
  sub->add_flag("--no-confirm-exit", *no_confirm, "Leave at Ctrl-D without asking");
  sub->add_option("--history-file", options->history_file,
                  "Input history (default: ~/.local/share/ensemble/console_history)");
  return {sub, [options, existing, no_confirm, attach] {
            if (attach->count() > 0) options->existing = *existing;
            options->confirm_exit = !*no_confirm;
            options->builtin_kernel_argv = {executable_path(), "kernel", "-f", "{connection_file}"};
            return console::run_console(*options);
          }};
}

}  // namespace ensemble::cli
