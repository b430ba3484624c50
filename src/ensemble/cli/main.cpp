#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <iostream>

#include "commands.hpp"
#include "ensemble/version.hpp"

int main(int argc, char** argv) {
  // Logs go to stderr; stdout is for what a command prints (paths, listings).
  spdlog::set_default_logger(spdlog::stderr_color_mt("ensemble"));
  spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v");
  if (const char* level = std::getenv("ENSEMBLE_LOG")) spdlog::set_level(spdlog::level::from_str(level));

  CLI::App app{"Ensemble: Jupyter kernels, collaboration and parallel computing"};
  app.set_version_flag("--version", std::string("ensemble ") + ENSEMBLE_VERSION);
  app.require_subcommand(1);
  std::vector<ensemble::cli::Subcommand> commands = {
      ensemble::cli::add_kernel_command(app),
      ensemble::cli::add_kernelspec_command(app),
      ensemble::cli::add_console_command(app),
      ensemble::cli::add_invite_command(app),
      ensemble::cli::add_revoke_command(app),
      ensemble::cli::add_controller_command(app),
      ensemble::cli::add_engine_command(app),
      ensemble::cli::add_cluster_command(app),
  };
  CLI11_PARSE(app, argc, argv);
  try {
    for (auto& command : commands) {
      if (command.app->parsed()) return command.run();
    }
  } catch (const std::exception& error) {
    // Construction failures (Python cannot start, sockets cannot be made).
    spdlog::critical("{}", error.what());
    return 1;
  }
  return 0;
}
