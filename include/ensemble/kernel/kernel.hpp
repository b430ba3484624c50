// A Jupyter kernel: five channels served for one Interpreter.
//
// Threads (see docs/architecture.md):
//   - the caller's thread ("main") runs the interpreter: construct the Kernel
//     and call run() on the thread that owns the language runtime;
//   - an I/O thread owns shell, control, stdin and iopub, answers control;
//   - a heartbeat thread echoes on its own socket.
// SIGINT is blocked on the kernel's own threads, so a signal-mode interrupt
// always lands on the main thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ensemble/kernel/interpreter.hpp"
#include "ensemble/kernel/shell_dispatcher.hpp"
#include "ensemble/kernel/uplink.hpp"
#include "ensemble/wire/connection_file.hpp"
#include "ensemble/wire/status.hpp"

namespace ensemble::kernel {

struct KernelOptions {
  wire::ConnectionInfo connection;
  std::string history_path;  // "" keeps history in memory
  std::size_t max_message_bytes = std::size_t{256} << 20;
  std::size_t stream_flush_bytes = std::size_t{4} << 20;
  std::chrono::milliseconds stream_flush_delay{5};    // first output after a quiet spell
  std::chrono::milliseconds stream_burst_delay{200};  // while output keeps coming
  // With CurveZMQ keys in `connection`: who the owner is, and the roster of
  // invited users (docs/security.md).
  std::string owner_name;
  std::string roster_path;
  // How long a shutdown waits for a busy main thread before ending the process.
  std::chrono::milliseconds shutdown_grace{3000};
  // Called on the watchdog's thread right before that ending (the main thread is still
  // busy, so nothing after kernel.run() runs): e.g. an engine removes its connection file.
  // Must not block or touch Python.
  std::function<void()> before_forced_exit;
  // Descriptors 1 and 2 become stream output while run() serves (output_capture.hpp):
  // what C libraries and child processes print reaches the frontend, as under ipykernel.
  // The process must log elsewhere than descriptor 2 (cli/main.cpp does).
  bool capture_output_fds = false;
  // Serves control's debug_request through the interpreter's debugger (debug_channel.hpp).
  bool debugger = false;
};

class Kernel {
 public:
  // Main thread. Throws std::runtime_error if the context cannot be created.
  Kernel(KernelOptions options, Interpreter& interpreter);
  ~Kernel();
  Kernel(const Kernel&) = delete;
  Kernel& operator=(const Kernel&) = delete;

  // Binds all five channels; ports given as 0 are chosen now. Errors: kIoError.
  wire::Result<wire::ConnectionInfo> bind();
  // Serves until shutdown. Returns whether a restart was requested.
  bool run();
  // Asks the kernel to shut down as if a shutdown_request had arrived.
  // Thread-safe; used when the process that started the kernel is gone.
  void request_shutdown();
  // For the collaboration layer: refuse requests before their handler runs.
  void set_gate(RequestGate gate);
  // For engines: also serve requests arriving on `uplink` (uplink.hpp), whose
  // calls run on the I/O thread. Before bind().
  void set_uplink(std::shared_ptr<Uplink> uplink);
  // For engines: serve another shell request type (see ShellDispatcher). Before bind().
  void add_handler(std::string msg_type, ShellDispatcher::RequestHandler handler);
  // From inside such a handler (main thread): a reply with metadata and
  // buffers (`shared` ones follow `buffers` and are sent without a copy); the
  // handler then returns a null Json.
  void send_reply(const wire::Message& request, wire::Json content, wire::Json metadata,
                  std::vector<std::string> buffers, std::vector<wire::SharedBuffer> shared = {});
  // The session id in every message the kernel sends (and in its iopub topics).
  const std::string& session_id() const;

 private:
  void begin_shutdown(bool restart);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ensemble::kernel
