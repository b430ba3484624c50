#include "json_convert.hpp"

#include <cmath>

namespace py = pybind11;

namespace ensemble::python {

std::string utf8(py::handle text) {
  Py_ssize_t size = 0;
  const char* data = PyUnicode_AsUTF8AndSize(text.ptr(), &size);
  if (data != nullptr) return std::string(data, static_cast<std::size_t>(size));
  PyErr_Clear();
  py::bytes encoded = py::reinterpret_steal<py::bytes>(PyUnicode_AsEncodedString(text.ptr(), "utf-8", "replace"));
  if (!encoded) {
    PyErr_Clear();
    return {};
  }
  return std::string(encoded);
}

nlohmann::json to_json(py::handle object) {
  if (object.is_none()) return nullptr;
  PyObject* raw = object.ptr();
  if (PyBool_Check(raw)) return raw == Py_True;
  if (PyLong_Check(raw)) {
    int overflow = 0;
    long long value = PyLong_AsLongLongAndOverflow(raw, &overflow);
    if (overflow == 0) return value;
    return utf8(py::str(object));
  }
  if (PyFloat_Check(raw)) {
    double value = PyFloat_AS_DOUBLE(raw);
    if (!std::isfinite(value)) return nullptr;
    return value;
  }
  if (PyUnicode_Check(raw)) return utf8(object);
  if (PyDict_Check(raw)) {
    nlohmann::json out = nlohmann::json::object();
    for (auto item : py::reinterpret_borrow<py::dict>(object)) {
      std::string key = PyUnicode_Check(item.first.ptr()) ? utf8(item.first) : utf8(py::str(item.first));
      out[key] = to_json(item.second);
    }
    return out;
  }
  if (PyList_Check(raw) || PyTuple_Check(raw)) {
    nlohmann::json out = nlohmann::json::array();
    for (auto item : object) out.push_back(to_json(item));
    return out;
  }
  if (PyBytes_Check(raw) || PyByteArray_Check(raw) || PyMemoryView_Check(raw)) {
    py::object encoded = py::module_::import("base64").attr("b64encode")(object);
    return std::string(py::bytes(encoded));
  }
  if (py::hasattr(object, "isoformat")) return utf8(object.attr("isoformat")());
  if (py::hasattr(object, "__index__")) return to_json(py::int_(py::reinterpret_borrow<py::object>(object)));
  if (py::hasattr(object, "__float__") && !py::hasattr(object, "__len__")) {
    return to_json(py::float_(py::reinterpret_borrow<py::object>(object)));
  }
  if (py::isinstance<py::set>(object) || py::isinstance<py::frozenset>(object) ||
      (py::hasattr(object, "__iter__") && py::hasattr(object, "__len__") && !py::hasattr(object, "keys"))) {
    nlohmann::json out = nlohmann::json::array();
    for (auto item : object) out.push_back(to_json(item));
    return out;
  }
  return utf8(py::str(object));
}

py::object from_json(const nlohmann::json& json) {
  switch (json.type()) {
    case nlohmann::json::value_t::null: return py::none();
    case nlohmann::json::value_t::boolean: return py::bool_(json.get<bool>());
    case nlohmann::json::value_t::number_integer: return py::int_(json.get<long long>());
    case nlohmann::json::value_t::number_unsigned: return py::int_(json.get<unsigned long long>());
    case nlohmann::json::value_t::number_float: return py::float_(json.get<double>());
    case nlohmann::json::value_t::string: return py::str(json.get_ref<const std::string&>());
    case nlohmann::json::value_t::array: {
      py::list out;
      for (const auto& item : json) out.append(from_json(item));
      return out;
    }
    case nlohmann::json::value_t::object: {
      py::dict out;
      for (const auto& [key, value] : json.items()) out[py::str(key)] = from_json(value);
      return out;
    }
    default: return py::none();
  }
}

}  // namespace ensemble::python
