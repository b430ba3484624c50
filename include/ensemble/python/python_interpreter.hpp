// The CPython implementation of kernel::Interpreter. The language work lives
// in the Python package ensemble._kernel (runtime.py); this class converts
// between the kernel's JSON and Python objects and holds the GIL while
// Python runs. Requires a live PythonRuntime. Main thread only, like every
// Interpreter method.
#pragma once

#include <memory>
#include <string>

#include "ensemble/kernel/interpreter.hpp"

namespace ensemble::python {

class PythonInterpreter final : public kernel::Interpreter {
 public:
  // `profile_dir` is the IPython profile whose startup/ files attach() runs, after
  // $PYTHONSTARTUP; empty means IPython's default profile. A startup file that raises is
  // reported on stderr and does not stop the kernel. `first_code`, if any, runs in the
  // namespace before the startup files, reported the same way (an MPI engine's mpi4py setup).
  // `connection_file` is the kernel's, which %connect_info and %qtconsole show to frontends.
  explicit PythonInterpreter(std::string profile_dir = {}, std::string first_code = {},
                             std::string connection_file = {});
  ~PythonInterpreter() override;

  void attach(kernel::KernelContext& context) override;
  // Waits for the GIL, so that no bridge call is under way, and leaves the bridge's calls
  // doing nothing: a Python thread (the user's, the debugger's) may outlive the kernel.
  void detach() override;
  kernel::Json kernel_info() override;
  kernel::ExecuteOutcome execute(const kernel::ExecuteRequest& request) override;
  kernel::Json complete(const std::string& code, int cursor_pos) override;
  kernel::Json inspect(const std::string& code, int cursor_pos, int detail_level) override;
  kernel::Json is_complete(const std::string& code) override;
  kernel::Json comm_info(const std::optional<std::string>& target_name) override;
  void handle_comm(const wire::Message& message) override;
  void discard_pending_interrupt() override;
  void shutdown(bool restart) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ensemble::python
