// The subcommands of the ensemble executable. Each registers its options on
// a CLI11 app and returns the function that runs it (an exit code).
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace ensemble::cli {

struct Subcommand {
  CLI::App* app;
  std::function<int()> run;
};

Subcommand add_kernel_command(CLI::App& app);
Subcommand add_kernelspec_command(CLI::App& app);
Subcommand add_console_command(CLI::App& app);
Subcommand add_invite_command(CLI::App& app);
Subcommand add_revoke_command(CLI::App& app);
Subcommand add_controller_command(CLI::App& app);
Subcommand add_engine_command(CLI::App& app);
Subcommand add_cluster_command(CLI::App& app);

}  // namespace ensemble::cli
