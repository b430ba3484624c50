// The C half of sending.py's `_file_request` (request_book.hpp says why).
// Each step mirrors a line of that Python; keep the two in step.
#include "request_book.hpp"

// clang-format off: datetime.h needs Python.h (pybind11.h) first
#include <datetime.h>
// clang-format on

#include <time.h>

#include <initializer_list>
#include <stdexcept>

namespace py = pybind11;

namespace ensemble::parallel {
namespace {

struct Book {
  py::object future_type, metadata_type, metadata_template;
  // interned names of the client's attributes and of the metadata's keys
  py::str closed{"_closed"}, lost{"_lost"}, check_open{"_check_open"}, last_submit{"_last_submit"},
      prefix{"_msg_id_prefix"}, counter{"_msg_counter"}, lock{"_lock"}, acquire{"acquire"}, release{"release"},
      engines{"_engines"}, metadata{"metadata"}, futures{"_futures"}, outstanding{"outstanding"},
      outstanding_dict{"_outstanding_dict"}, history{"history"}, unregister{"_unregister"}, engine_uuid{"engine_uuid"},
      output{"output"}, msg_id{"msg_id"}, submitted{"submitted"}, outputs{"outputs"}, data{"data"};
};

// Never freed: its Python objects must not be released after the interpreter is finalized.
Book* the_book = nullptr;

py::object steal(PyObject* object) {
  if (object == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(object);
}

py::object attribute(py::handle object, const py::str& name) {
  return steal(PyObject_GetAttr(object.ptr(), name.ptr()));
}

void check(int status) {
  if (status < 0) throw py::error_already_set();
}

bool truthy(const py::object& value) {
  int truth = PyObject_IsTrue(value.ptr());
  check(truth);
  return truth != 0;
}

// `when` as an aware UTC datetime, as util.utcnow makes one (microseconds rounded down).
py::object utc_datetime(std::chrono::system_clock::time_point when) {
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(when.time_since_epoch()).count();
  time_t seconds = static_cast<time_t>(micros / 1000000);
  tm parts{};
  gmtime_r(&seconds, &parts);
  return steal(PyDateTimeAPI->DateTime_FromDateAndTime(
      parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec,
      static_cast<int>(micros % 1000000), PyDateTime_TimeZone_UTC, PyDateTimeAPI->DateTimeType));
}

// time.monotonic(), which the event thread compares _last_submit with (turns.py).
double monotonic_seconds() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

void untrack(const py::object& object) {
  if (PyObject_IS_GC(object.ptr()) && PyObject_GC_IsTracked(object.ptr())) PyObject_GC_UnTrack(object.ptr());
}

void add_to_set(const py::object& set, const py::str& item) {
  if (PySet_Check(set.ptr())) {
    check(PySet_Add(set.ptr(), item.ptr()));
  } else {
    steal(PyObject_CallMethod(set.ptr(), "add", "O", item.ptr()));
  }
}

// The client's lock (an RLock), held for a scope. Its acquire() lets go of
// the GIL while it waits, as `with self._lock` does.
class Held {
 public:
  Held(py::object lock, const Book& book) : lock_(std::move(lock)), release_(book.release) {
    steal(PyObject_CallMethodNoArgs(lock_.ptr(), book.acquire.ptr()));
  }
  ~Held() {
    // A Python error on its way out is held by its py::error_already_set, not set, so
    // calling into Python here is allowed.
    PyObject* released = PyObject_CallMethodNoArgs(lock_.ptr(), release_.ptr());
    if (released == nullptr) {
      PyErr_WriteUnraisable(lock_.ptr());
    } else {
      Py_DECREF(released);
    }
  }
  Held(const Held&) = delete;
  Held& operator=(const Held&) = delete;

 private:
  py::object lock_;
  py::str release_;
};

const Book& book() {
  if (the_book == nullptr) throw std::logic_error("configure_request_book() was not called");
  return *the_book;
}

}  // namespace

void configure_request_book(py::handle future_type, py::handle metadata_type, py::handle metadata_template) {
  if (!PyType_Check(metadata_type.ptr()) || !PyType_IsSubtype(reinterpret_cast<PyTypeObject*>(metadata_type.ptr()),
                                                              &PyDict_Type)) {
    throw py::type_error("the metadata type must be a dict subclass");
  }
  if (!PyDict_Check(metadata_template.ptr())) throw py::type_error("the metadata template must be a dict");
  PyDateTime_IMPORT;
  if (PyDateTimeAPI == nullptr) throw py::error_already_set();
  auto* fresh = new Book;
  fresh->future_type = py::reinterpret_borrow<py::object>(future_type);
  fresh->metadata_type = py::reinterpret_borrow<py::object>(metadata_type);
  fresh->metadata_template = py::reinterpret_borrow<py::object>(metadata_template);
  for (py::str* name : {&fresh->closed, &fresh->lost, &fresh->check_open, &fresh->last_submit, &fresh->prefix,
                        &fresh->counter, &fresh->lock, &fresh->acquire, &fresh->release, &fresh->engines,
                        &fresh->metadata, &fresh->futures, &fresh->outstanding, &fresh->outstanding_dict,
                        &fresh->history, &fresh->unregister, &fresh->engine_uuid, &fresh->output, &fresh->msg_id,
                        &fresh->submitted, &fresh->outputs, &fresh->data}) {
    PyObject* text = name->release().ptr();
    PyUnicode_InternInPlace(&text);
    *name = py::reinterpret_steal<py::str>(text);
  }
  the_book = fresh;  // a second call (a reloaded module) leaves the first book alive: it may be in use
}

FiledRequest file_request(py::handle client, py::handle engine_id, std::chrono::system_clock::time_point submitted) {
  const Book& b = book();
  // _check_open(): raises when the client is closed or lost its controller
  if (truthy(attribute(client, b.closed)) || truthy(attribute(client, b.lost))) {
    steal(PyObject_CallMethodNoArgs(client.ptr(), b.check_open.ptr()));
  }
  check(PyObject_SetAttr(client.ptr(), b.last_submit.ptr(), steal(PyFloat_FromDouble(monotonic_seconds())).ptr()));
  // _new_msg_id()
  py::object counter = attribute(client, b.counter);
  PyObject* next = PyIter_Next(counter.ptr());
  if (next == nullptr && !PyErr_Occurred()) throw py::value_error("the client's msg_id counter ran out");
  py::object number = steal(next);
  py::str msg_id = py::reinterpret_steal<py::str>(
      steal(PyUnicode_Concat(attribute(client, b.prefix).ptr(), steal(PyObject_Str(number.ptr())).ptr())).release());
  // uuid = self._engines.get(engine_id) if engine_id is not None else None
  py::object uuid = py::none();
  if (!engine_id.is_none()) {
    uuid = steal(PyObject_CallMethod(attribute(client, b.engines).ptr(), "get", "O", engine_id.ptr()));
  }
  // request_metadata(msg_id, utcnow(), uuid): dict.__new__(Metadata), updated from the template
  py::object md = steal(PyDict_Type.tp_new(reinterpret_cast<PyTypeObject*>(b.metadata_type.ptr()),
                                           py::tuple().ptr(), nullptr));
  check(PyDict_Update(md.ptr(), b.metadata_template.ptr()));
  py::object outputs = steal(PyList_New(0));
  check(PyDict_SetItem(md.ptr(), b.msg_id.ptr(), msg_id.ptr()));
  check(PyDict_SetItem(md.ptr(), b.submitted.ptr(), utc_datetime(submitted).ptr()));
  check(PyDict_SetItem(md.ptr(), b.engine_uuid.ptr(), uuid.ptr()));
  check(PyDict_SetItem(md.ptr(), b.outputs.ptr(), outputs.ptr()));
  check(PyDict_SetItem(md.ptr(), b.data.ptr(), steal(PyDict_New()).ptr()));
  py::object future =
      steal(PyObject_CallFunctionObjArgs(b.future_type.ptr(), msg_id.ptr(), md.ptr(), engine_id.ptr(), nullptr));
  check(PyObject_SetAttr(future.ptr(), b.engine_uuid.ptr(), uuid.ptr()));
  // out of the collector's view (futures.py, MessageFuture)
  for (const py::object& part : {md, outputs, future, attribute(future, b.output)}) untrack(part);
  {
    Held held(attribute(client, b.lock), b);
    check(PyObject_SetItem(attribute(client, b.metadata).ptr(), msg_id.ptr(), md.ptr()));
    check(PyObject_SetItem(attribute(client, b.futures).ptr(), msg_id.ptr(), future.ptr()));
    add_to_set(attribute(client, b.outstanding), msg_id);
    add_to_set(steal(PyObject_GetItem(attribute(client, b.outstanding_dict).ptr(), uuid.ptr())), msg_id);
    py::object history = attribute(client, b.history);
    if (PyList_CheckExact(history.ptr())) {
      check(PyList_Append(history.ptr(), msg_id.ptr()));
    } else {
      steal(PyObject_CallMethod(history.ptr(), "append", "O", msg_id.ptr()));
    }
  }
  return {std::move(msg_id), std::move(future)};
}

void unfile_request(py::handle client, const py::str& msg_id) {
  py::list msg_ids;
  msg_ids.append(msg_id);
  steal(PyObject_CallMethodOneArg(client.ptr(), book().unregister.ptr(), msg_ids.ptr()));
}

}  // namespace ensemble::parallel
