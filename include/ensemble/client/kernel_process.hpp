// Launching a kernel process from a kernelspec: what jupyter_client's
// KernelManager does. The connection file (0600, fresh random key, free
// loopback TCP ports) is written to the Jupyter runtime directory.
//
// Thread safety: none; owned by one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "ensemble/client/kernelspec.hpp"
#include "ensemble/wire/connection_file.hpp"
#include "ensemble/wire/status.hpp"

namespace ensemble::client {

struct LaunchOptions {
  std::string runtime_dir;                         // "" = the Jupyter runtime dir
  std::map<std::string, std::string> extra_env;    // added to the environment
  bool quiet = true;                               // kernel stdout/stderr to /dev/null
};

class KernelProcess {
 public:
  // Writes the connection file and starts the kernel with JPY_PARENT_PID set
  // (so the kernel ends if this process dies). Errors: kIoError.
  static wire::Result<std::unique_ptr<KernelProcess>> launch(const KernelSpec& spec, const LaunchOptions& options = {});
  // Kills the process if it still runs and removes the connection file.
  ~KernelProcess();
  KernelProcess(const KernelProcess&) = delete;
  KernelProcess& operator=(const KernelProcess&) = delete;

  const wire::ConnectionInfo& connection() const { return connection_; }
  const std::string& connection_file() const { return connection_file_; }
  const KernelSpec& spec() const { return spec_; }
  pid_t pid() const { return pid_; }
  // True while the process has not exited (reaps it once it has).
  bool alive();
  // SIGINT to the kernel (for interrupt_mode "signal").
  void send_interrupt_signal();
  // Waits up to `timeout` for the process to exit; true if it did.
  bool wait_exit(std::chrono::milliseconds timeout);
  // SIGKILL and reap.
  void kill();

 private:
  KernelProcess() = default;
  KernelSpec spec_;
  wire::ConnectionInfo connection_;
  std::string connection_file_;
  pid_t pid_ = -1;
  bool exited_ = false;
};

}  // namespace ensemble::client
