// apply_request on an engine: the C++ side moves frames in and out of Python;
// ensemble/_engine/apply.py unpickles, calls and pickles (docs/parallel-protocol.md).
#include <pybind11/embed.h>
#include <spdlog/spdlog.h>

#include "ensemble/parallel/engine.hpp"
#include "ensemble/wire/ids.hpp"

namespace py = pybind11;

namespace ensemble::parallel {

using wire::Json;

namespace {

Json to_json_via_python(const py::handle& object) {
  static py::object dumps = py::module_::import("json").attr("dumps");
  return Json::parse(dumps(object, py::arg("default") = py::module_::import("builtins").attr("repr")).cast<std::string>());
}

// {"status": "ok"} and nothing else: the reply content of nearly every
// apply, built here instead of through Python's json (a few µs per task).
bool plain_ok(const py::handle& content) {
  if (!PyDict_CheckExact(content.ptr()) || PyDict_Size(content.ptr()) != 1) return false;
  PyObject* status = PyDict_GetItemString(content.ptr(), "status");
  return status != nullptr && PyUnicode_Check(status) && PyUnicode_CompareWithASCIIString(status, "ok") == 0;
}

// A request buffer handed to Python without a copy: the bytes move in here,
// and the (writable) memory lives as long as anything unpickled from it.
struct OwnedBytes {
  std::string bytes;
};

void register_owned_bytes() {
  static bool registered = false;
  if (registered) return;
  registered = true;
  py::module_ module = py::module_::import("ensemble._engine");
  py::class_<OwnedBytes>(module, "_OwnedBytes", py::buffer_protocol()).def_buffer([](OwnedBytes& owned) {
    return py::buffer_info(owned.bytes.data(), 1, py::format_descriptor<unsigned char>::format(), 1,
                           {static_cast<py::ssize_t>(owned.bytes.size())}, {1}, false);
  });
}

std::string copy_buffer(const py::handle& object) {
  Py_buffer view;
  if (PyObject_GetBuffer(object.ptr(), &view, PyBUF_C_CONTIGUOUS) != 0) throw py::error_already_set();
  std::string bytes(static_cast<const char*>(view.buf), static_cast<std::size_t>(view.len));
  PyBuffer_Release(&view);
  return bytes;
}

Json internal_error(const std::string& what, int engine_id, const std::string& uuid) {
  return Json{{"status", "error"},
              {"ename", "InternalError"},
              {"evalue", what},
              {"traceback", Json::array({what})},
              {"engine_info", {{"engine_id", engine_id}, {"engine_uuid", uuid}, {"method", "apply"}}}};
}

}  // namespace

void add_apply_handler(kernel::Kernel& kernel, const Registrar& registrar, std::string engine_uuid) {
  kernel.add_handler("apply_request", [&kernel, &registrar, uuid = std::move(engine_uuid)](
                                          wire::Message& request) -> Json {
    int engine_id = registrar.engine_id();
    std::string started = wire::now_iso8601();
    Json content, metadata = Json::object();
    std::vector<std::string> buffers;
    {
      py::gil_scoped_acquire gil;
      try {
        register_owned_bytes();
        py::list arguments;
        // Moved, not copied: arrays the call keeps (push) outlive this request.
        for (auto& buffer : request.buffers) {
          arguments.append(py::memoryview(py::cast(OwnedBytes{std::move(buffer)})));
        }
        static py::object run = py::module_::import("ensemble._engine.apply").attr("run");
        py::tuple outcome = run(arguments, engine_id, uuid);
        content = plain_ok(outcome[0]) ? Json{{"status", "ok"}} : to_json_via_python(outcome[0]);
        for (auto [key, value] : py::dict(outcome[1])) {
          std::string name = py::str(key);
          // these four are set below, from here: only other keys go through json
          if (name != "engine_id" && name != "engine_uuid" && name != "status" && name != "started") {
            metadata[name] = to_json_via_python(value);
          }
        }
        for (const auto& item : py::list(outcome[2])) buffers.push_back(copy_buffer(item));
      } catch (const std::exception& error) {
        spdlog::error("apply_request failed inside the engine: {}", error.what());
        content = internal_error(error.what(), engine_id, uuid);
        buffers.clear();
      }
    }
    if (!metadata.is_object()) metadata = Json::object();
    metadata["engine_id"] = engine_id;
    metadata["engine_uuid"] = uuid;
    metadata["started"] = started;
    metadata["completed"] = wire::now_iso8601();
    metadata["status"] = content.value("status", "error");
    kernel.send_reply(request, std::move(content), std::move(metadata), std::move(buffers));
    return nullptr;
  });
}

}  // namespace ensemble::parallel
