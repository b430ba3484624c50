// apply_request on an engine: the C++ side moves frames in and out of Python;
// ensemble/_engine/apply.py unpickles, calls and pickles (docs/parallel-protocol.md).
#include <pybind11/embed.h>
#include <spdlog/spdlog.h>

#include <vector>

#include "ensemble/parallel/engine.hpp"
#include "../parked_buffers.hpp"
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

// The same for a buffer the kernel received without copying it (a ZeroMQ
// frame of a large request, which nobody else holds: writable too).
struct KeptBytes {
  wire::SharedBuffer buffer;
};

void register_buffer_types() {
  static bool registered = false;
  if (registered) return;
  registered = true;
  py::module_ module = py::module_::import("ensemble._engine");
  py::class_<OwnedBytes>(module, "_OwnedBytes", py::buffer_protocol()).def_buffer([](OwnedBytes& owned) {
    return py::buffer_info(owned.bytes.data(), 1, py::format_descriptor<unsigned char>::format(), 1,
                           {static_cast<py::ssize_t>(owned.bytes.size())}, {1}, false);
  });
  py::class_<KeptBytes>(module, "_KeptBytes", py::buffer_protocol()).def_buffer([](KeptBytes& kept) {
    return py::buffer_info(const_cast<char*>(kept.buffer.data), 1, py::format_descriptor<unsigned char>::format(), 1,
                           {static_cast<py::ssize_t>(kept.buffer.size)}, {1}, false);
  });
}

// Result buffers sent without a copy: each pins its Python object (a
// Py_buffer) until ZeroMQ has sent it, then waits in ParkedBuffers for the
// next apply, which releases it holding the GIL.
wire::SharedBuffer share_buffer(const py::handle& object) {
  auto* view = new Py_buffer;
  if (PyObject_GetBuffer(object.ptr(), view, PyBUF_C_CONTIGUOUS) != 0) {
    delete view;
    throw py::error_already_set();
  }
  std::shared_ptr<const void> keeper(view, [](const void* parked) {
    ParkedBuffers::instance().park(static_cast<Py_buffer*>(const_cast<void*>(parked)));
  });
  return {keeper, static_cast<const char*>(view->buf), static_cast<std::size_t>(view->len)};
}

std::string copy_buffer(const py::handle& object) {
  Py_buffer view;
  if (PyObject_GetBuffer(object.ptr(), &view, PyBUF_C_CONTIGUOUS) != 0) throw py::error_already_set();
  std::string bytes(static_cast<const char*>(view.buf), static_cast<std::size_t>(view.len));
  PyBuffer_Release(&view);
  return bytes;
}

std::size_t buffer_size(const py::handle& object) {
  Py_buffer view;
  if (PyObject_GetBuffer(object.ptr(), &view, PyBUF_C_CONTIGUOUS) != 0) throw py::error_already_set();
  auto size = static_cast<std::size_t>(view.len);
  PyBuffer_Release(&view);
  return size;
}

// Below this in all, a result's buffers are copied: pinning Python objects
// until ZeroMQ is done costs more than copying a few bytes.
constexpr std::size_t kShareResultsFrom = 64 * 1024;

// The registration reply is on its way when a request comes before it (engine_id_within):
// far longer than it takes, and still short if it never comes.
constexpr auto kIdPatience = std::chrono::seconds(2);

Json internal_error(const std::string& what, int engine_id, const std::string& uuid) {
  return Json{{"status", "error"},
              {"ename", "InternalError"},
              {"evalue", what},
              {"traceback", Json::array({what})},
              {"engine_info", {{"engine_id", engine_id}, {"engine_uuid", uuid}, {"method", "apply"}}}};
}

// A boolean the request's metadata may carry; anything else (absent, not a bool) is false.
bool asked_flag(const Json& metadata, const char* key) {
  if (!metadata.is_object()) return false;
  auto it = metadata.find(key);
  return it != metadata.end() && it->is_boolean() && it->get<bool>();
}

}  // namespace

void add_apply_handler(kernel::Kernel& kernel, const ControllerLink& link, std::string engine_uuid) {
  {
    // The engine's Python side, now rather than at the first apply: it also
    // makes `ipyparallel.datapub` this engine's publish_data, for execute too.
    py::gil_scoped_acquire gil;
    py::module_::import("ensemble._engine");
  }
  kernel.add_handler("apply_request", [&kernel, &link, uuid = std::move(engine_uuid)](
                                          wire::Message& request) -> Json {
    // The engine_info and metadata of the reply carry the id (engine_id_within: why wait).
    int engine_id = link.engine_id_within(kIdPatience);
    if (engine_id < 0) spdlog::warn("apply_request before this engine's registration: its reply says engine -1");
    std::string started = wire::now_iso8601();
    Json content, metadata = Json::object();
    std::vector<std::string> buffers;
    std::vector<wire::SharedBuffer> shared;
    {
      py::gil_scoped_acquire gil;
      try {
        ParkedBuffers::instance().release_parked();
        register_buffer_types();
        py::list arguments;
        // Moved or kept, not copied: arrays the call keeps (push) outlive this request.
        for (auto& buffer : request.buffers) {
          arguments.append(py::memoryview(py::cast(OwnedBytes{std::move(buffer)})));
        }
        for (auto& buffer : request.shared_buffers) {
          arguments.append(py::memoryview(py::cast(KeptBytes{std::move(buffer)})));
        }
        request.shared_buffers.clear();
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
        py::list results(outcome[2]);
        std::size_t total = 0;
        for (const auto& item : results) total += buffer_size(item);
        for (const auto& item : results) {
          if (total >= kShareResultsFrom) {
            shared.push_back(share_buffer(item));
          } else {
            buffers.push_back(copy_buffer(item));
          }
        }
      } catch (const std::exception& error) {
        spdlog::error("apply_request failed inside the engine: {}", error.what());
        content = internal_error(error.what(), engine_id, uuid);
        buffers.clear();
        shared.clear();
      }
    }
    if (!metadata.is_object()) metadata = Json::object();
    metadata["engine_id"] = engine_id;
    metadata["engine_uuid"] = uuid;
    metadata["started"] = started;
    metadata["completed"] = wire::now_iso8601();
    metadata["status"] = content.value("status", "error");
    // the keys of an ipyparallel engine's reply metadata, for code that reads task records
    metadata["engine"] = uuid;
    metadata["dependencies_met"] = true;
    bool broadcast = asked_flag(request.metadata, "is_broadcast");
    metadata["is_broadcast"] = broadcast;
    metadata["is_coalescing"] = asked_flag(request.metadata, "is_coalescing");
    // a broadcast reaches each engine as <its msg_id>_<engine id> (controller/broadcast.cpp)
    const std::string& msg_id = request.header.msg_id;
    metadata["original_msg_id"] = broadcast ? msg_id.substr(0, msg_id.rfind('_')) : std::string();
    kernel.send_reply(request, std::move(content), std::move(metadata), std::move(buffers), std::move(shared));
    return nullptr;
  });
}

}  // namespace ensemble::parallel
