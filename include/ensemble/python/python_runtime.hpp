// The one owner of the embedded CPython runtime.
//
// GIL policy: the constructor initialises Python on the calling thread (which
// becomes Python's main thread, where signal handlers run) and then releases
// the GIL. Every entry into Python afterwards acquires it for its duration
// (pybind11's gil_scoped_acquire) and releases it before blocking, so threads
// the user starts keep running while the kernel waits for requests.
//
// Python is never finalised: the process ends with _exit after the kernel's
// exit handlers have run, because finalising with user threads alive can hang.
#pragma once

#include <string>
#include <vector>

namespace ensemble::python {

struct PythonRuntimeOptions {
  std::vector<std::string> extra_paths;  // prepended to sys.path (the ensemble package)
  std::vector<std::string> argv;         // sys.argv
};

class PythonRuntime {
 public:
  // Throws std::runtime_error if the interpreter cannot start.
  explicit PythonRuntime(const PythonRuntimeOptions& options);
  ~PythonRuntime();
  PythonRuntime(const PythonRuntime&) = delete;
  PythonRuntime& operator=(const PythonRuntime&) = delete;

 private:
  void* saved_thread_state_ = nullptr;
};

}  // namespace ensemble::python
