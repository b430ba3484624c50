#include <spdlog/spdlog.h>
#include <unistd.h>

#include <pthread.h>
#include <pwd.h>
#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include "commands.hpp"
#include "ensemble/kernel/kernel.hpp"
#include "ensemble/kernel/roster.hpp"
#include "ensemble/python/python_interpreter.hpp"
#include "ensemble/python/python_runtime.hpp"
#include "ensemble/wire/connection_file.hpp"
#include "ensemble/wire/ids.hpp"
#include "paths.hpp"

namespace ensemble::cli {

namespace {

struct KernelArgs {
  bool insecure = false;
  std::string connection_file;
  std::string history;
  std::size_t max_message_bytes = 0;
};

// Ends the kernel when the process that launched it is gone, as ipykernel's
// parent poller does: jupyter_client names its pid in JPY_PARENT_PID.
std::jthread watch_parent(kernel::Kernel& kernel) {
  const char* named = std::getenv("JPY_PARENT_PID");
  pid_t parent = named != nullptr ? static_cast<pid_t>(std::atoi(named)) : 0;
  if (parent <= 1) return {};
  // Created with SIGINT blocked, so a signal-mode interrupt still lands on
  // the main thread.
  sigset_t sigint, previous;
  sigemptyset(&sigint);
  sigaddset(&sigint, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigint, &previous);
  std::jthread watcher([&kernel, parent](std::stop_token stop) {
    std::mutex mutex;
    std::condition_variable_any wake;
    std::unique_lock lock(mutex);
    while (!wake.wait_for(lock, stop, std::chrono::milliseconds(500), [] { return false; })) {
      if (stop.stop_requested()) return;
      if (::getppid() != parent) {
        spdlog::warn("parent process {} is gone; shutting down", parent);
        kernel.request_shutdown();
        return;
      }
    }
  });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return watcher;
}

bool is_loopback(const wire::ConnectionInfo& connection) {
  if (connection.transport == "ipc") return true;
  return connection.ip == "localhost" || connection.ip == "::1" || connection.ip.starts_with("127.");
}

std::string os_user_name() {
  if (const passwd* entry = getpwuid(getuid())) return entry->pw_name;
  return "owner";
}

int run_kernel(const KernelArgs& args) {
  wire::ConnectionInfo connection;
  std::string path = args.connection_file;
  bool write_file = true;
  if (path.empty()) {
    std::string dir = client::jupyter_runtime_dir();
    if (!client::make_private_dirs(dir)) {
      spdlog::error("cannot create {}", dir);
      return 1;
    }
    path = dir + "/kernel-ensemble-" + wire::new_id().substr(0, 12) + ".json";
    connection = wire::fresh_loopback_connection();
  } else if (std::filesystem::exists(path)) {
    auto loaded = wire::ConnectionInfo::load(path);
    if (!loaded.ok()) {
      spdlog::error("{}: {}", path, loaded.status().to_string());
      return 2;
    }
    connection = std::move(loaded).value();
    write_file = connection.shell_port == 0 || connection.iopub_port == 0 || connection.stdin_port == 0 ||
                 connection.control_port == 0 || connection.hb_port == 0;
  } else {
    connection = wire::fresh_loopback_connection();
  }

  if (!connection.encrypted() && !args.insecure && !is_loopback(connection)) {
    spdlog::error(
        "refusing to serve {} without encryption: add curve keys to the connection file (docs/security.md) or pass "
        "--insecure",
        connection.ip);
    return 2;
  }

  kernel::KernelOptions options;
  options.connection = connection;
  options.owner_name = os_user_name();
  options.roster_path = kernel::roster_path_for(path);
  options.history_path = args.history.empty() ? default_history_path() : args.history;
  if (options.history_path != ":memory:") {
    client::make_private_dirs(std::filesystem::path(options.history_path).parent_path().string());
  }
  if (args.max_message_bytes > 0) options.max_message_bytes = args.max_message_bytes;
  options.capture_output_fds = true;
  options.debugger = true;  // an engine has none: its control channel is the controller's

  python::PythonRuntime runtime({package_paths(), {executable_path()}});
  python::PythonInterpreter interpreter({}, {}, std::filesystem::absolute(path).string());
  {
    // The kernel's destructor sends what is still queued (the shutdown
    // reply, the last idle) before its sockets close.
    kernel::Kernel kernel(std::move(options), interpreter);
    auto bound = kernel.bind();
    if (!bound.ok()) {
      spdlog::error("{}", bound.status().to_string());
      return 1;
    }
    if (write_file) {
      if (auto status = wire::write_connection_file(path, bound.value()); !status.ok()) {
        spdlog::error("{}", status.to_string());
        return 1;
      }
    }
    if (args.connection_file.empty()) {
      std::cout << path << std::endl;
    }
    std::jthread parent_watcher = watch_parent(kernel);
    kernel.run();
  }
  std::fflush(nullptr);
  // Python is not finalised (see python_runtime.hpp): end the process here.
  ::_exit(0);
}

}  // namespace

Subcommand add_kernel_command(CLI::App& app) {
  auto args = std::make_shared<KernelArgs>();
  CLI::App* sub = app.add_subcommand("kernel", "Run a Jupyter kernel (the kernelspec's argv)");
  sub->add_option("-f,--connection-file", args->connection_file,
                  "Connection file to serve; without it, a fresh one is written and its path printed");
  sub->add_option("--history", args->history,
                  "SQLite history file (default: $ENSEMBLE_HISTORY or ~/.local/share/ensemble/history.sqlite)");
  sub->add_flag("--insecure", args->insecure, "Serve a non-loopback address without CurveZMQ encryption");
  sub->add_option("--max-message-bytes", args->max_message_bytes,
                  "Refuse larger incoming messages (default: $ENSEMBLE_MAX_MESSAGE_BYTES or 256 MiB)");
  if (const char* limit = std::getenv("ENSEMBLE_MAX_MESSAGE_BYTES")) {
    args->max_message_bytes = std::strtoull(limit, nullptr, 10);
  }
  return {sub, [args] { return run_kernel(*args); }};
}

}  // namespace ensemble::cli
