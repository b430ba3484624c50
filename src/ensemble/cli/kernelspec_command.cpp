#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "paths.hpp"

#ifndef ENSEMBLE_PYTHON_HOME
#error "ENSEMBLE_PYTHON_HOME must be defined"
#endif

namespace ensemble::cli {

namespace {

struct KernelspecArgs {
  bool user = false;
  bool sys_prefix = false;
  std::string prefix;
  std::string name = "ensemble";
  std::string display_name = "Ensemble (Python 3)";
  std::string interrupt_mode = "message";
};

std::string kernels_dir(const KernelspecArgs& args) {
  if (args.user) return client::jupyter_data_dir() + "/kernels";
  if (!args.prefix.empty()) return args.prefix + "/share/jupyter/kernels";
  if (args.sys_prefix) return std::string(ENSEMBLE_PYTHON_HOME) + "/share/jupyter/kernels";
  return "/usr/local/share/jupyter/kernels";
}

int install(const KernelspecArgs& args) {
  std::filesystem::path dir = std::filesystem::path(kernels_dir(args)) / args.name;
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    spdlog::error("cannot create {}: {}", dir.string(), error.message());
    return 1;
  }
  nlohmann::json spec{
      {"argv", {executable_path(), "kernel", "-f", "{connection_file}"}},
      {"display_name", args.display_name},
      {"language", "python"},
      {"interrupt_mode", args.interrupt_mode},
      // JupyterLab offers its debugger for a kernel whose spec says "debugger": true
      // (kernel_info then says whether debugpy is there); jupyter_client >= 8.9 reads
      // supported_encryption to decide whether to put a CurveZMQ key pair in the
      // connection file it writes for us.
      {"metadata", {{"debugger", true}, {"supported_encryption", {"curve"}}}},
  };
  std::ofstream out(dir / "kernel.json");
  out << spec.dump(2) << "\n";
  if (!out) {
    spdlog::error("cannot write {}", (dir / "kernel.json").string());
    return 1;
  }
  std::cout << "Installed kernelspec " << args.name << " in " << dir.string() << std::endl;
  return 0;
}

}  // namespace

Subcommand add_kernelspec_command(CLI::App& app) {
  auto args = std::make_shared<KernelspecArgs>();
  CLI::App* sub = app.add_subcommand("kernelspec", "Manage the Ensemble kernelspec");
  sub->require_subcommand(1);
  CLI::App* install_cmd = sub->add_subcommand("install", "Install the kernelspec so Jupyter finds it");
  auto* user = install_cmd->add_flag("--user", args->user, "Install for the current user");
  auto* prefix = install_cmd->add_option("--prefix", args->prefix, "Install into PREFIX/share/jupyter/kernels");
  auto* sys_prefix = install_cmd->add_flag("--sys-prefix", args->sys_prefix, "Install into Python's sys.prefix");
  user->excludes(prefix)->excludes(sys_prefix);
  prefix->excludes(sys_prefix);
  install_cmd->add_option("--name", args->name, "Kernelspec name")->capture_default_str();
  install_cmd->add_option("--display-name", args->display_name, "Name shown in frontends")->capture_default_str();
  install_cmd->add_option("--interrupt-mode", args->interrupt_mode, "message or signal")
      ->check(CLI::IsMember({"message", "signal"}))
      ->capture_default_str();
  return {sub, [args] { return install(*args); }};
}

}  // namespace ensemble::cli
