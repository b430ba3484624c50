// Private: conversions between Python objects and JSON. Caller holds the GIL.
#pragma once

#include <pybind11/pybind11.h>

#include <nlohmann/json.hpp>

namespace ensemble::python {

// Like ipykernel's json_clean: bytes become base64, NaN/inf become null,
// anything else unknown becomes str(obj).
nlohmann::json to_json(pybind11::handle object);
pybind11::object from_json(const nlohmann::json& json);
// UTF-8 text of a str; unencodable characters (lone surrogates) replaced.
std::string utf8(pybind11::handle text);

}  // namespace ensemble::python
