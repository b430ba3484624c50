// Names the calling thread, as `top -H`, `perf` and gdb show it: every
// process here has several threads, and unnamed they all read "ensemble".
#pragma once

#include <pthread.h>

namespace ensemble::wire {

// `name`: at most 15 characters (Linux cuts the rest). Thread-safe; never fails loudly.
inline void name_this_thread(const char* name) {
  pthread_setname_np(pthread_self(), name);
}

}  // namespace ensemble::wire
