// Runs one cell on the kernel and renders everything it produces, answering
// the kernel's input requests and turning Ctrl-C into an interrupt. Also
// renders other clients' traffic while nothing runs. Not thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "kernel_session.hpp"
#include "renderer.hpp"

namespace ensemble::console {

struct CellOutcome {
  std::string status = "ok";  // the execute_reply's status; "dead" if the kernel died
  int execution_count = 0;
  wire::Json payload = wire::Json::array();
};

// What an execute_reply's payload asks of the console. Pager text (`obj?`)
// is printed by show_payload itself.
struct PayloadRequests {
  bool exit = false;
  bool keep_kernel = false;
  std::string next_input;
  std::string edit_file;  // %edit: the file to open in the user's editor
  std::optional<int> edit_line;
};
PayloadRequests show_payload(const wire::Json& payload, std::ostream& out);

class CellRunner {
 public:
  // Answers an input_request: the line typed, or nullopt at end of input.
  using InputProvider = std::function<std::optional<std::string>(const std::string& prompt, bool password)>;

  CellRunner(KernelSession& session, Renderer& renderer, InputProvider input, std::atomic<bool>& interrupted)
      : session_(session), renderer_(renderer), input_(std::move(input)), interrupted_(interrupted) {}

  CellOutcome run(const std::string& code, bool allow_stdin);
  // Called around output that pump() prints, so a prompt can be hidden and redrawn.
  void set_output_guards(std::function<void()> before, std::function<void()> after) {
    before_output_ = std::move(before);
    after_output_ = std::move(after);
  }
  // Renders what arrives for up to `timeout`, returning early when `fd` is
  // readable (then *fd_ready is set). Returns false if the kernel is dead.
  bool pump(std::chrono::milliseconds timeout, int fd, bool* fd_ready);

 private:
  KernelSession& session_;
  Renderer& renderer_;
  InputProvider input_;
  std::atomic<bool>& interrupted_;
  std::function<void()> before_output_;
  std::function<void()> after_output_;
};

}  // namespace ensemble::console
