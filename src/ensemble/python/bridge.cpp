#include "bridge.hpp"

#include <pybind11/embed.h>
#include <pybind11/stl.h>

#include "json_convert.hpp"

namespace py = pybind11;
using ensemble::python::Bridge;

namespace {

std::vector<std::string> to_buffers(const py::object& buffers) {
  std::vector<std::string> out;
  if (buffers.is_none()) return out;
  for (auto buffer : buffers) {
    py::buffer_info info = py::reinterpret_borrow<py::buffer>(buffer).request();
    out.emplace_back(static_cast<const char*>(info.ptr), static_cast<std::size_t>(info.size * info.itemsize));
  }
  return out;
}

std::string ask(Bridge& bridge, const std::string& prompt, bool password) {
  if (bridge.context == nullptr) throw std::runtime_error("the kernel has ended");
  ensemble::wire::Result<std::string> answer = [&] {
    py::gil_scoped_release release;
    return bridge.context->request_input(prompt, password);
  }();
  if (answer.ok()) return answer.value();
  if (answer.status().code() == ensemble::wire::StatusCode::kInterrupted) {
    // The signal's Python handler raises KeyboardInterrupt while a cell runs.
    if (PyErr_CheckSignals() == 0) PyErr_SetNone(PyExc_KeyboardInterrupt);
    throw py::error_already_set();
  }
  throw std::runtime_error(answer.status().message());
}

// MurmurHash2 (32-bit, Austin Appleby's, public domain) of `data`: how the Jupyter
// debugger names a cell's file (debugInfo's hashMethod "Murmur2"), so that a frontend
// computes the same path from a cell's text as the kernel compiles it under.
std::uint32_t murmur2(std::string_view data, std::uint32_t seed) {
  constexpr std::uint32_t m = 0x5bd1e995;
  std::uint32_t h = seed ^ static_cast<std::uint32_t>(data.size());
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t length = data.size();
  for (; length >= 4; bytes += 4, length -= 4) {
    std::uint32_t k = bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (static_cast<std::uint32_t>(bytes[3]) << 24);
    k *= m;
    k ^= k >> 24;
    k *= m;
    h = (h * m) ^ k;
  }
  switch (length) {
    case 3: h ^= static_cast<std::uint32_t>(bytes[2]) << 16; [[fallthrough]];
    case 2: h ^= static_cast<std::uint32_t>(bytes[1]) << 8; [[fallthrough]];
    case 1: h ^= bytes[0]; h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return h;
}

}  // namespace

namespace ensemble::python {
// Referenced from python_interpreter.cpp so the linker keeps this object file
// (and the module's static registration) out of a static library.
void link_bridge_module() {}
}  // namespace ensemble::python

PYBIND11_EMBEDDED_MODULE(_ensemble_bridge, module) {
  // Every call checks the context first: it is null once the kernel has gone
  // (PythonInterpreter::detach), and a Python thread may still be calling.
  py::class_<Bridge>(module, "Bridge")
      .def(
          "publish",
          [](Bridge& bridge, const std::string& msg_type, const py::object& content, const py::object& metadata,
             const py::object& buffers) {
            if (bridge.context == nullptr) return;
            nlohmann::json meta = metadata.is_none() ? nlohmann::json::object() : ensemble::python::to_json(metadata);
            bridge.context->publish(msg_type, ensemble::python::to_json(content), std::move(meta), to_buffers(buffers));
          },
          py::arg("msg_type"), py::arg("content"), py::arg("metadata") = py::none(), py::arg("buffers") = py::none())
      .def("write_stream",
           [](Bridge& bridge, const std::string& name, const py::str& text) {
             if (bridge.context != nullptr) bridge.context->write_stream(name, ensemble::python::utf8(text));
           })
      .def("flush",
           [](Bridge& bridge) {
             if (bridge.context != nullptr) bridge.context->flush_streams();
           })
      .def("input", &ask)
      .def("parent_header",
           [](Bridge& bridge) {
             return ensemble::python::from_json(bridge.context != nullptr ? bridge.context->current_parent_header()
                                                                          : nlohmann::json::object());
           })
      .def("execution_count",
           [](Bridge& bridge) { return bridge.context != nullptr ? bridge.context->execution_count() : 0; })
      .def("history",
           [](Bridge& bridge, const py::object& request) {
             if (bridge.context == nullptr) throw std::runtime_error("the kernel has ended");
             nlohmann::json query = ensemble::python::to_json(request);
             nlohmann::json reply;
             {
               py::gil_scoped_release release;  // a query first waits for the store's writer
               reply = bridge.context->query_history(query);
             }
             return ensemble::python::from_json(reply);
           })
      .def("history_session",
           [](Bridge& bridge) { return bridge.context != nullptr ? bridge.context->history_session() : 0; })
      // the debugger's thread: where its requests come from, and its way back (debug_channel.hpp)
      .def("debug_requests_fd",
           [](Bridge& bridge) { return bridge.context != nullptr ? bridge.context->debug_requests_fd() : -1; })
      .def("send_debug_reply",
           [](Bridge& bridge, std::uint64_t token, const py::object& content) {
             return bridge.context != nullptr &&
                    bridge.context->send_debug_reply(token, ensemble::python::to_json(content));
           })
      .def("publish_debug_event", [](Bridge& bridge, const py::object& content) {
        if (bridge.context != nullptr) bridge.context->publish_debug_event(ensemble::python::to_json(content));
      });
  module.def(
      "murmur2", [](const py::bytes& data, std::uint32_t seed) { return murmur2(std::string_view(data), seed); },
      py::arg("data"), py::arg("seed"));
}
