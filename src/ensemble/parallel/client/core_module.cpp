// ensemble._core: the Python face of ClusterConnection (docs/parallel-protocol.md).
//
// GIL: every blocking call (open, next_event(s), close) releases it. Buffers
// handed to send() travel without a copy when large; ZeroMQ frees them on its
// own thread, which must not touch Python, so the Python references are parked
// and released by the next call that holds the GIL.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <unistd.h>

#include <array>
#include <mutex>
#include <optional>
#include <variant>
#include <vector>

#include "ensemble/parallel/cluster_connection.hpp"
#include "ensemble/wire/ids.hpp"
#include "ensemble/wire/json_scan.hpp"
#include "../parked_buffers.hpp"
#include "request_book.hpp"

namespace py = pybind11;
using namespace pybind11::literals;

namespace ensemble::parallel {
namespace {

constexpr std::size_t kCopyBelow = 64 * 1024;

// One received frame, exposed through the buffer protocol without a copy.
struct Frame {
  zmq::message_t message;
};

void park_buffer(void* /*data*/, void* hint) { ParkedBuffers::instance().park(static_cast<Py_buffer*>(hint)); }

zmq::message_t frame_from(const py::handle& object) {
  auto* view = new Py_buffer;
  if (PyObject_GetBuffer(object.ptr(), view, PyBUF_ANY_CONTIGUOUS) != 0) {
    delete view;
    throw py::error_already_set();
  }
  auto size = static_cast<std::size_t>(view->len);
  if (size < kCopyBelow) {
    zmq::message_t copy(view->buf, size);
    PyBuffer_Release(view);
    delete view;
    return copy;
  }
  return zmq::message_t(view->buf, size, park_buffer, view);
}

// Bad UTF-8 from a peer becomes U+FFFD rather than an exception that would
// end the event thread's batch.
py::str decoded(const char* data, std::size_t size) {
  PyObject* text = PyUnicode_DecodeUTF8(data, static_cast<Py_ssize_t>(size), "replace");
  if (text == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(text);
}
py::str decoded(const std::string& text) { return decoded(text.data(), text.size()); }

py::str text_of(const zmq::message_t& frame) {
  return decoded(static_cast<const char*>(frame.data()), frame.size());
}

// Bounds one next_events() batch, so the event thread returns to its other
// duties (output deadlines) now and then under a flood.
constexpr std::size_t kMostEventsAtOnce = 256;

// Fields of the two most common events, read here with the GIL released so
// that the event thread's Python neither decodes nor parses them:
// an engine's iopub `status`, and an `apply_reply` with status ok.
struct StatusFields {
  std::string parent_msg_id, state, date;
};
struct AppliedFields {
  std::string parent_msg_id, date, started, engine_uuid, parent_date, outputs;
};
using Fields = std::variant<std::monostate, StatusFields, AppliedFields>;

std::string_view text_view(const zmq::message_t& frame) {
  return {static_cast<const char*>(frame.data()), frame.size()};
}

// Reads `names` from a frame holding a JSON object (wire/json_scan.hpp).
template <std::size_t N>
bool read_members(const zmq::message_t& frame, const std::array<std::string_view, N>& names,
                  std::array<std::string, N>& values) {
  return wire::scan_string_members(text_view(frame), names, values);
}

// Any other event, or one that cannot be read, is monostate and goes the long way.
Fields fields_of(const ClusterEvent& event) {
  if (event.engine_id < 0 || event.frames.size() < 4) return {};
  bool status = event.kind == ClusterEvent::Kind::kIopub && event.msg_type == "status";
  bool applied = event.kind == ClusterEvent::Kind::kShell && event.msg_type == "apply_reply";
  if (!status && !applied) return {};
  std::array<std::string, 1> date, state;
  std::array<std::string, 2> parent;  // msg_id, date
  if (!read_members(event.frames[0], std::array<std::string_view, 1>{"date"}, date) ||
      !read_members(event.frames[1], std::array<std::string_view, 2>{"msg_id", "date"}, parent)) {
    return {};
  }
  if (status) {
    if (!read_members(event.frames[3], std::array<std::string_view, 1>{"execution_state"}, state)) return {};
    return StatusFields{std::move(parent[0]), std::move(state[0]), std::move(date[0])};
  }
  std::array<std::string, 3> metadata;  // started, engine_uuid, outputs
  std::array<std::string, 1> outcome;
  if (!read_members(event.frames[2], std::array<std::string_view, 3>{"started", "engine_uuid", "outputs"}, metadata) ||
      !read_members(event.frames[3], std::array<std::string_view, 1>{"status"}, outcome) || outcome[0] != "ok") {
    return {};
  }
  return AppliedFields{std::move(parent[0]),   std::move(date[0]),   std::move(metadata[0]),
                       std::move(metadata[1]), std::move(parent[1]), std::move(metadata[2])};
}

py::list buffers_of(ClusterEvent& event) {
  py::list buffers;
  for (std::size_t i = 4; i < event.frames.size(); ++i) {
    py::object frame = py::cast(Frame{std::move(event.frames[i])});
    buffers.append(py::memoryview(frame));
  }
  return buffers;
}

py::object to_python(ClusterEvent& event, const Fields& fields) {
  if (event.kind == ClusterEvent::Kind::kLost || event.kind == ClusterEvent::Kind::kReconnected) {
    const char* kind = event.kind == ClusterEvent::Kind::kLost ? "lost" : "reconnected";
    return py::make_tuple(kind, -1, "", "", "", "", "", py::list());
  }
  if (const auto* status = std::get_if<StatusFields>(&fields)) {
    return py::make_tuple("status", event.engine_id, decoded(status->parent_msg_id), decoded(status->state),
                          decoded(status->date));
  }
  if (const auto* applied = std::get_if<AppliedFields>(&fields)) {
    auto optional = [](const std::string& text) { return text.empty() ? py::object(py::none()) : decoded(text); };
    return py::make_tuple("applied", event.engine_id, decoded(applied->parent_msg_id), optional(applied->date),
                          optional(applied->started), optional(applied->engine_uuid), optional(applied->parent_date),
                          optional(applied->outputs), buffers_of(event));
  }
  auto& f = event.frames;
  const char* kind = event.kind == ClusterEvent::Kind::kShell ? "shell" : "iopub";
  return py::make_tuple(kind, event.engine_id, event.msg_type, text_of(f.at(0)), text_of(f.at(1)), text_of(f.at(2)),
                        text_of(f.at(3)), buffers_of(event));
}

// Runs `work` with the GIL released, and takes it back however `work` ends: an
// exception that left without it crashed the interpreter (pybind11 turns it
// into a Python exception, which needs the GIL). A daemon thread coming back
// into a finalizing interpreter is ended with pthread_exit, which cannot unwind
// through C++ frames: it stays out instead.
template <typename Work>
void without_gil(Work&& work) {
  PyThreadState* state = PyEval_SaveThread();
  try {
    work();
  } catch (...) {
    while (_Py_IsFinalizing()) ::pause();
    PyEval_RestoreThread(state);
    throw;
  }
  while (_Py_IsFinalizing()) ::pause();
  PyEval_RestoreThread(state);
}

class Connection {
 public:
  Connection(const std::string& client_file_json, std::string username, double timeout) {
    auto json = wire::Json::parse(client_file_json, nullptr, false);
    auto address = ControllerAddress::from_json(json);
    if (json.is_discarded() || !address.ok()) {
      throw py::value_error("not a controller client file: " +
                            (address.ok() ? std::string("invalid JSON") : address.status().message()));
    }
    wire::Result<std::unique_ptr<ClusterConnection>> opened = wire::Status::Ok();
    {
      py::gil_scoped_release release;
      opened = ClusterConnection::open(address.value(), std::move(username),
                                       std::chrono::milliseconds(static_cast<long>(timeout * 1000)));
    }
    if (!opened.ok()) {
      PyErr_SetString(PyExc_TimeoutError, opened.status().message().c_str());
      throw py::error_already_set();
    }
    connection_ = std::move(opened).value();
  }

  std::string session() const { return live()->session(); }

  std::string send(const std::string& msg_type, const std::string& content, const std::string& metadata,
                   const py::iterable& buffers, int target, const std::string& channel, std::string msg_id,
                   std::string date = {}) {
    ParkedBuffers::instance().release_parked();
    if (channel != "shell" && channel != "control" && channel != "task" && channel != "broadcast") {
      throw py::value_error("channel must be 'shell', 'control', 'task' or 'broadcast'");
    }
    std::vector<zmq::message_t> frames;
    for (const auto& buffer : buffers) frames.push_back(frame_from(buffer));
    auto route = channel == "task"        ? ClusterConnection::Route::kTask
                 : channel == "broadcast" ? ClusterConnection::Route::kBroadcast
                 : channel == "control"   ? ClusterConnection::Route::kControl
                                          : ClusterConnection::Route::kShell;
    // With the GIL held (releasing it around this short send measured no
    // faster, 2 engines, 10k tasks): no close() can run meanwhile.
    return live()->submit(msg_type, content, metadata, std::move(frames), target, route, std::move(msg_id),
                          std::move(date));
  }

  // SendingMixin._send_request's work: files the request in `client`'s tables
  // (request_book.hpp), then sends it; its MessageFuture. A request that cannot
  // be sent is taken out of the tables again before the error goes on.
  py::object send_request(py::handle client, const std::string& msg_type, const std::string& content,
                          const std::string& metadata, const py::iterable& buffers, py::handle engine_id,
                          const std::string& channel) {
    // one moment: the metadata's "submitted" is the header's date, as ipyparallel's is
    auto now = std::chrono::system_clock::now();
    FiledRequest filed = file_request(client, engine_id, now);
    try {
      send(msg_type, content, metadata, buffers, engine_id.is_none() ? -1 : engine_id.cast<int>(), channel,
           filed.msg_id.cast<std::string>(), wire::iso8601_at(now));
    } catch (...) {
      try {
        unfile_request(client, filed.msg_id);
      } catch (py::error_already_set& error) {
        error.discard_as_unraisable("taking a request that could not be sent out of the client's tables");
      }
      throw;
    }
    return filed.future;
  }

  py::object next_event(double timeout) {
    ParkedBuffers::instance().release_parked();
    std::shared_ptr<ClusterConnection> connection = live();
    std::optional<ClusterEvent> event;
    without_gil([&] { event = connection->next_event(std::chrono::milliseconds(static_cast<long>(timeout * 1000))); });
    if (!event) return py::none();
    return to_python(*event, Fields{});  // always the full form
  }

  // Every event that has arrived (a list, empty after `timeout`). Most of the
  // traffic comes pre-parsed (see fields_of): iopub status messages as
  // ("status", engine_id, parent_msg_id, state, date), and apply replies with
  // status ok as ("applied", engine_id, parent_msg_id, date, started,
  // engine_uuid, parent_date, outputs, buffers), absent fields None.
  py::list next_events(double timeout) {
    ParkedBuffers::instance().release_parked();
    std::shared_ptr<ClusterConnection> connection = live();
    std::vector<ClusterEvent> events;
    std::vector<Fields> fields;
    without_gil([&] {
      events = connection->next_events(std::chrono::milliseconds(static_cast<long>(timeout * 1000)), kMostEventsAtOnce);
      fields.reserve(events.size());
      for (const auto& event : events) fields.push_back(fields_of(event));
    });
    py::list out;
    for (std::size_t i = 0; i < events.size(); ++i) out.append(to_python(events[i], fields[i]));
    return out;
  }

  // Sends the requests held back from a burst now (ClusterConnection::flush).
  void flush() {
    std::shared_ptr<ClusterConnection> connection = live();
    py::gil_scoped_release release;
    connection->flush();
  }

  // The thread waiting in next_events returns at once (ClusterConnection::interrupt).
  void interrupt() {
    if (connection_) connection_->interrupt();
  }

  // Sends engine `id`'s shell requests straight to `endpoint` from now on.
  void connect_engine(int id, const std::string& endpoint) { live()->connect_engine(id, endpoint); }
  void set_most_direct(std::size_t most) { live()->set_most_direct(most); }
  void forget_engine(int id) {
    if (connection_) connection_->forget_engine(id);
  }

  void close() {
    if (!connection_) return;
    {
      py::gil_scoped_release release;
      connection_->close();
    }
    connection_.reset();
    ParkedBuffers::instance().release_parked();
  }

 private:
  // Shared: a thread that uses it without the GIL keeps it alive through a
  // concurrent close(), which then only closes its sockets.
  std::shared_ptr<ClusterConnection> live() const {
    if (!connection_) throw std::runtime_error("the connection is closed");
    return connection_;
  }
  std::shared_ptr<ClusterConnection> connection_;
};

}  // namespace
}  // namespace ensemble::parallel

PYBIND11_MODULE(_core, m) {
  using ensemble::parallel::Connection;
  using ensemble::parallel::Frame;
  m.doc() = "Ensemble's C++ client core: one connection per Client to a cluster's controller.";
  py::class_<Frame>(m, "Frame", py::buffer_protocol()).def_buffer([](Frame& frame) {
    return py::buffer_info(frame.message.data(), 1, py::format_descriptor<unsigned char>::format(), 1,
                           {static_cast<py::ssize_t>(frame.message.size())}, {1}, false);
  });
  py::class_<Connection>(m, "Connection")
      .def(py::init<const std::string&, std::string, double>(), "client_file_json"_a, "username"_a = "",
           "timeout"_a = 10.0)
      .def_property_readonly("session", &Connection::session)
      .def("send", &Connection::send, "msg_type"_a, "content_json"_a, "metadata_json"_a = "{}",
           "buffers"_a = py::tuple(), "target"_a = -1, "channel"_a = "shell", "msg_id"_a = "", "date"_a = "")
      .def("next_event", &Connection::next_event, "timeout"_a)
      .def("next_events", &Connection::next_events, "timeout"_a)
      .def("interrupt", &Connection::interrupt)
      .def("flush", &Connection::flush)
      .def("connect_engine", &Connection::connect_engine, "engine_id"_a, "endpoint"_a)
      .def("send_request", &Connection::send_request, "client"_a, "msg_type"_a, "content"_a, "metadata"_a,
           "buffers"_a, "engine_id"_a, "channel"_a)
      .def("forget_engine", &Connection::forget_engine, "engine_id"_a)
      .def("set_most_direct", &Connection::set_most_direct, "most"_a)
      .def("close", &Connection::close);
  m.def("configure_request_book", &ensemble::parallel::configure_request_book, "future_type"_a, "metadata_type"_a,
        "metadata_template"_a, "The types Connection.send_request files requests with (sending.py calls it once).");
  // Call with the GIL held (as every pybind11 function is). See asyncresult.py, _untrack_finished.
  m.def(
      "untrack",
      [](const py::args& objects) {
        for (const py::handle& object : objects) {
          if (PyObject_IS_GC(object.ptr()) && PyObject_GC_IsTracked(object.ptr())) PyObject_GC_UnTrack(object.ptr());
        }
      },
      "Takes the given objects out of the cyclic garbage collector's view; they are still freed by reference "
      "counting. Only for objects that can be in no reference cycle.");
  m.def(
      "track",
      [](const py::args& objects) {
        for (const py::handle& object : objects) {
          if (PyObject_IS_GC(object.ptr()) && !PyObject_GC_IsTracked(object.ptr())) PyObject_GC_Track(object.ptr());
        }
      },
      "Puts objects that untrack() took out back into the cyclic garbage collector's view: for one that takes "
      "on a reference that may lead back to it (a callback, an exception, a waiter).");
}
