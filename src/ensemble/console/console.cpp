#include "ensemble/console/console.hpp"

#include <pwd.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "ensemble/client/jupyter_paths.hpp"
#include "interactive.hpp"
#include "kernel_session.hpp"

namespace ensemble::console {

std::atomic<bool>& sigint_flag() {
  static std::atomic<bool> flag{false};
  return flag;
}

namespace {

void on_sigint(int) { sigint_flag().store(true); }

void install_sigint_handler() {
  // No SA_RESTART: a wait in poll() must end so the console can act.
  struct sigaction action {};
  action.sa_handler = on_sigint;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
}

std::string default_username() {
  if (const char* user = std::getenv("USER"); user != nullptr && *user != '\0') return user;
  if (const passwd* entry = getpwuid(getuid())) return entry->pw_name;
  return "user";
}

std::string default_history_file() {
  std::string dir = client::xdg_data_home() + "/ensemble";
  client::make_private_dirs(dir);
  return dir + "/console_history";
}

}  // namespace

int run_console(const ConsoleOptions& given) {
  ConsoleOptions options = given;
  if (options.username.empty()) options.username = default_username();
  if (options.history_file.empty()) options.history_file = default_history_file();
  install_sigint_handler();

  auto session = KernelSession::open(options);
  if (!session.ok()) {
    std::cerr << "ensemble console: " << session.status().message() << std::endl;
    return 2;
  }
  KernelSession& kernel = *session.value();
  int code = 0;
  if (kernel.role() == "observer") {
    if (!isatty(STDIN_FILENO)) {
      std::cerr << "ensemble console: an observer cannot run cells" << std::endl;
      return 2;
    }
    code = run_observer(kernel);
  } else {
    code = isatty(STDIN_FILENO) ? run_interactive(kernel, options) : run_piped(kernel);
  }
  session.value()->shutdown();
  return code;
}

}  // namespace ensemble::console
