#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "ensemble/console/console.hpp"
#include "ensemble/parallel/cluster_files.hpp"
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
  auto engine = std::make_shared<int>(-1);
  auto cluster_id = std::make_shared<std::string>();
  auto profile = std::make_shared<std::string>("default");
  auto profile_dir = std::make_shared<std::string>();
  auto* engine_option =
      sub->add_option("--engine", *engine, "Attach to engine ID of a running cluster (debug the real node)");
  sub->add_option("--cluster-id", *cluster_id, "With --engine: the cluster's id");
  sub->add_option("--profile", *profile, "With --engine: the cluster's IPython profile");
  sub->add_option("--profile-dir", *profile_dir, "With --engine: the cluster's profile directory");
  engine_option->excludes(attach);
  sub->add_flag("--no-confirm-exit", *no_confirm, "Leave at Ctrl-D without asking");
  sub->add_option("--history-file", options->history_file,
                  "Input history (default: ~/.local/share/ensemble/console_history)");
  return {sub, [=] {
            if (attach->count() > 0) options->existing = *existing;
            if (engine_option->count() > 0) {
              // An engine writes an ordinary kernel connection file once registered.
              options->existing = parallel::security_dir(*profile, *profile_dir) + "/" +
                                  parallel::engine_file_name(*cluster_id, *engine);
              if (!std::filesystem::exists(*options->existing)) {
                std::cerr << "ensemble console: no engine " << *engine << " in cluster '" << *cluster_id
                          << "' (" << *options->existing << " does not exist)" << std::endl;
                return 1;
              }
            }
            options->confirm_exit = !*no_confirm;
            options->builtin_kernel_argv = {executable_path(), "kernel", "-f", "{connection_file}"};
            return console::run_console(*options);
          }};
}

}  // namespace ensemble::cli
