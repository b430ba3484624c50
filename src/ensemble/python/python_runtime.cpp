#include "ensemble/python/python_runtime.hpp"

#include <Python.h>

#include <stdexcept>

#ifndef ENSEMBLE_PYTHON_HOME
#error "ENSEMBLE_PYTHON_HOME must name the prefix of the Python the kernel was built against"
#endif

namespace ensemble::python {

namespace {
void check(PyStatus status, const char* what) {
  if (PyStatus_Exception(status)) {
    throw std::runtime_error(std::string("cannot start Python (") + what +
                             "): " + (status.err_msg != nullptr ? status.err_msg : "unknown error"));
  }
}
}  // namespace

PythonRuntime::PythonRuntime(const PythonRuntimeOptions& options) {
  PyConfig config;
  PyConfig_InitPythonConfig(&config);
  config.install_signal_handlers = 1;
  config.parse_argv = 0;
  // The prefix of the libpython we link, never whatever python3 is first on
  // PATH; sys.executable must be a real interpreter so that subprocess and
  // multiprocessing users start Python, not the kernel binary.
  check(PyConfig_SetBytesString(&config, &config.home, ENSEMBLE_PYTHON_HOME), "home");
  check(PyConfig_SetBytesString(&config, &config.executable, ENSEMBLE_PYTHON_HOME "/bin/python3"), "executable");
  std::vector<char*> argv;
  for (const auto& arg : options.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  check(PyConfig_SetBytesArgv(&config, static_cast<Py_ssize_t>(argv.size()), argv.data()), "argv");
  PyStatus status = Py_InitializeFromConfig(&config);
  PyConfig_Clear(&config);
  check(status, "initialise");

  PyObject* path = PySys_GetObject("path");  // borrowed
  for (auto it = options.extra_paths.rbegin(); it != options.extra_paths.rend(); ++it) {
    PyObject* entry = PyUnicode_FromString(it->c_str());
    PyList_Insert(path, 0, entry);
    Py_DECREF(entry);
  }
  saved_thread_state_ = PyEval_SaveThread();
}

PythonRuntime::~PythonRuntime() {
  if (saved_thread_state_ != nullptr) PyEval_RestoreThread(static_cast<PyThreadState*>(saved_thread_state_));
}

}  // namespace ensemble::python
