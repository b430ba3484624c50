#include "ensemble/python/python_interpreter.hpp"

#include <pybind11/embed.h>
#include <spdlog/spdlog.h>

#include "bridge.hpp"
#include "json_convert.hpp"

namespace py = pybind11;

namespace ensemble::python {

struct PythonInterpreter::Impl {
  Bridge bridge;
  py::object runtime;
  std::string profile_dir;
  std::string first_code;
  std::string connection_file;
};

namespace {

kernel::Json message_dict_json(const wire::Message& message) {
  return kernel::Json{{"header", message.header.to_json()},
                      {"parent_header", message.parent_header},
                      {"metadata", message.metadata},
                      {"content", message.content}};
}

kernel::Json call_json(const py::object& runtime, const char* method, auto&&... args) {
  py::gil_scoped_acquire gil;
  return to_json(runtime.attr(method)(std::forward<decltype(args)>(args)...));
}

}  // namespace

PythonInterpreter::PythonInterpreter(std::string profile_dir, std::string first_code, std::string connection_file)
    : impl_(std::make_unique<Impl>()) {
  impl_->profile_dir = std::move(profile_dir);
  impl_->first_code = std::move(first_code);
  impl_->connection_file = std::move(connection_file);
  link_bridge_module();
}

PythonInterpreter::~PythonInterpreter() {
  py::gil_scoped_acquire gil;
  impl_->runtime = py::object();
}

void PythonInterpreter::detach() {
  py::gil_scoped_acquire gil;
  impl_->bridge.context = nullptr;
}

void PythonInterpreter::attach(kernel::KernelContext& context) {
  impl_->bridge.context = &context;
  py::gil_scoped_acquire gil;
  py::module_::import("_ensemble_bridge");  // registers the Bridge type
  py::object bridge = py::cast(&impl_->bridge, py::return_value_policy::reference);
  impl_->runtime = py::module_::import("ensemble._kernel.runtime").attr("KernelRuntime")(bridge);
  impl_->runtime.attr("connection_file") = impl_->connection_file;
  try {
    py::module_::import("ensemble._kernel.startup").attr("run")(impl_->runtime, impl_->profile_dir,
                                                                 impl_->first_code);
  } catch (py::error_already_set& error) {
    spdlog::error("startup files: {}", error.what());
  }
}

kernel::Json PythonInterpreter::kernel_info() {
  return call_json(impl_->runtime, "kernel_info");
}

kernel::ExecuteOutcome PythonInterpreter::execute(const kernel::ExecuteRequest& request) {
  py::gil_scoped_acquire gil;
  // An interrupt that arrived between cells is dropped here: the handler
  // only raises while a cell runs.
  if (PyErr_CheckSignals() != 0) PyErr_Clear();
  kernel::ExecuteOutcome outcome;
  try {
    py::object reply = impl_->runtime.attr("execute")(request.code, request.silent, request.store_history,
                                                      from_json(request.user_expressions), request.allow_stdin,
                                                      request.execution_count);
    kernel::Json json = to_json(reply);
    if (json.value("status", "ok") == "error") {
      outcome.status = kernel::ExecuteOutcome::Status::kError;
      outcome.ename = json.value("ename", "Error");
      outcome.evalue = json.value("evalue", "");
      outcome.error_shown = json.value("error_shown", false);
      for (const auto& line : json.value("traceback", kernel::Json::array())) {
        outcome.traceback.push_back(line.is_string() ? line.get<std::string>() : line.dump());
      }
    }
    outcome.user_expressions = json.value("user_expressions", kernel::Json::object());
    outcome.payload = json.value("payload", kernel::Json::array());
    if (auto text = json.find("output_text"); text != json.end() && text->is_string()) {
      outcome.output_text = text->get<std::string>();
    }
  } catch (py::error_already_set& error) {
    spdlog::error("the Python runtime failed: {}", error.what());
    outcome.status = kernel::ExecuteOutcome::Status::kError;
    outcome.ename = "InternalError";
    outcome.evalue = error.what();
  }
  return outcome;
}

kernel::Json PythonInterpreter::complete(const std::string& code, int cursor_pos) {
  return call_json(impl_->runtime, "complete", code, cursor_pos);
}

kernel::Json PythonInterpreter::inspect(const std::string& code, int cursor_pos, int detail_level) {
  return call_json(impl_->runtime, "inspect", code, cursor_pos, detail_level);
}

kernel::Json PythonInterpreter::is_complete(const std::string& code) {
  kernel::Json reply = call_json(impl_->runtime, "is_complete", code);
  return reply;
}

kernel::Json PythonInterpreter::comm_info(const std::optional<std::string>& target_name) {
  py::gil_scoped_acquire gil;
  py::object target = target_name ? py::object(py::str(*target_name)) : py::object(py::none());
  return to_json(impl_->runtime.attr("comms").attr("comm_info")(target));
}

void PythonInterpreter::handle_comm(const wire::Message& message) {
  py::gil_scoped_acquire gil;
  py::dict msg = from_json(message_dict_json(message));
  py::list buffers;
  for (const auto& buffer : message.buffers) buffers.append(py::memoryview(py::bytes(buffer)));
  for (const auto& buffer : message.shared_buffers) {
    buffers.append(py::memoryview(py::bytes(buffer.data, buffer.size)));
  }
  msg["buffers"] = buffers;
  try {
    impl_->runtime.attr("comms").attr("handle")(msg);
  } catch (py::error_already_set& error) {
    spdlog::warn("{}: {}", message.header.msg_type, error.what());
  }
}

void PythonInterpreter::discard_pending_interrupt() {
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) PyErr_Clear();
}

void PythonInterpreter::shutdown(bool restart) {
  py::gil_scoped_acquire gil;
  try {
    impl_->runtime.attr("shutdown")(restart);
  } catch (py::error_already_set& error) {
    spdlog::warn("exit handlers failed: {}", error.what());
  }
}

}  // namespace ensemble::python
