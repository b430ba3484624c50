// The client's bookkeeping for a request it is about to send, in C: what
// python/ensemble/client/sending.py's `_file_request` does (that Python is the
// reference, and what runs without the built core). A submit loop spent
// 5 µs per task in that Python, a third of the client's whole submit.
//
// Every function here needs the GIL (no other thread may be in them at once
// without it), and reports failure by throwing: py::error_already_set for an
// error raised in Python, which pybind11 passes on as it is, or an exception
// that pybind11 turns into a Python one (TypeError, RuntimeError).
#pragma once

#include <chrono>

#include <pybind11/pybind11.h>

namespace ensemble::parallel {

// The Python types a request is filed with: the MessageFuture class, the
// Metadata class (a dict subclass) and the dict every Metadata starts from.
// Call once (sending.py does, on import) before file_request; kept for the
// process's life.
void configure_request_book(pybind11::handle future_type, pybind11::handle metadata_type,
                            pybind11::handle metadata_template);

struct FiledRequest {
  pybind11::str msg_id;
  pybind11::object future;  // a MessageFuture, filed in the client's tables
};

// Checks that `client` may send (else its _check_open() raises), makes the
// next msg_id, the request's Metadata and MessageFuture (out of the garbage
// collector's view, see futures.py), and files them in the client's tables
// under its lock. `engine_id`: an int, or None for a task the controller
// places.
// `submitted` becomes its metadata's "submitted", and is the request header's date.
FiledRequest file_request(pybind11::handle client, pybind11::handle engine_id,
                          std::chrono::system_clock::time_point submitted);

// Takes a request that could not be sent out of the client's tables again.
void unfile_request(pybind11::handle client, const pybind11::str& msg_id);

}  // namespace ensemble::parallel
