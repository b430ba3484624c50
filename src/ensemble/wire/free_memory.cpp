#include "ensemble/wire/free_memory.hpp"

#include <malloc.h>

#include <cstddef>

// jemalloc's control interface, if jemalloc is linked in (the ensemble
// executable): weak, so that a program on glibc's malloc links too, and finds
// it null.
extern "C" int mallctl(const char* name, void* oldp, std::size_t* oldlenp, void* newp, std::size_t newlen)
    __attribute__((weak));

namespace ensemble::wire {

void release_free_memory() {
  if (mallctl != nullptr) {
    // "arena.<MALLCTL_ARENAS_ALL>.purge": every arena's unused dirty pages go back now.
    mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0);
    return;
  }
  ::malloc_trim(0);
}

}  // namespace ensemble::wire
