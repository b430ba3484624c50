// Gives memory the process has freed back to the system, whichever allocator
// it runs on: the ensemble executable links jemalloc (docs/architecture.md,
// "Memory allocator"); the unit tests and other hosts of these libraries run
// on glibc's malloc. Without this, either allocator keeps what a burst of
// large messages freed (glibc until asked; jemalloc for its decay time).
//
// Thread-safe. Costs a walk of the allocator's free memory: call it when
// traffic has calmed down, not per message.
#pragma once

namespace ensemble::wire {

void release_free_memory();

}  // namespace ensemble::wire
