// jemalloc's options for the ensemble executable, read at its first
// allocation (docs/architecture.md, "Memory allocator"). Only built when the
// executable links jemalloc (CMake's ENSEMBLE_JEMALLOC).
//
// dirty_decay_ms: freed pages go back to the system within about a second of
// going unused, not the default ten, so that a daemon's RSS follows its load;
// the controller and the kernels also purge at once after a burst
// (wire::release_free_memory). muzzy_decay_ms: no second stage.
extern "C" {
extern const char* malloc_conf;
const char* malloc_conf = "dirty_decay_ms:1000,muzzy_decay_ms:0";
}
