#include <fcntl.h>
#include <spdlog/sinks/ansicolor_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "commands.hpp"
#include "ensemble/version.hpp"

int main(int argc, char** argv) {
  // Logs go to stderr; stdout is for what a command prints (paths, listings). A kernel
  // makes descriptor 2 its frontend's stderr (kernel/output_capture.hpp), so the log
  // writes to a copy of the original, which child processes do not inherit.
  int log_fd = ::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
  std::FILE* log_file = log_fd >= 0 ? ::fdopen(log_fd, "w") : nullptr;
  if (log_file != nullptr) {
    auto sink = std::make_shared<spdlog::sinks::ansicolor_sink<spdlog::details::console_mutex>>(log_file, spdlog::color_mode::automatic);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("ensemble", std::move(sink)));
  } else {
    spdlog::set_default_logger(spdlog::stderr_color_mt("ensemble"));
  }
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
