// Python buffers lent to ZeroMQ without a copy (a client's request arrays, an
// engine's result arrays). ZeroMQ lets go of a frame on its own thread, which
// must not touch Python, so each Py_buffer is parked here and released by the
// next caller that holds the GIL. Header-only; include after Python.h.
#pragma once

#include <Python.h>

#include <mutex>
#include <vector>

namespace ensemble::parallel {

class ParkedBuffers {
 public:
  static ParkedBuffers& instance() {
    static auto* parked = new ParkedBuffers();  // never destroyed: ZeroMQ may let go at exit
    return *parked;
  }
  // Any thread. Takes ownership of `view` (allocated with new).
  void park(Py_buffer* view) {
    std::lock_guard lock(mutex_);
    parked_.push_back(view);
  }
  // With the GIL held.
  void release_parked() {
    std::vector<Py_buffer*> parked;
    {
      std::lock_guard lock(mutex_);
      parked.swap(parked_);
    }
    for (Py_buffer* view : parked) {
      PyBuffer_Release(view);
      delete view;
    }
  }

 private:
  std::mutex mutex_;
  std::vector<Py_buffer*> parked_;  // GUARDED_BY(mutex_)
};

}  // namespace ensemble::parallel
