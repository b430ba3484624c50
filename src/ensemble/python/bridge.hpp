// Private: the object the Python runtime calls back through
// (module _ensemble_bridge, class Bridge). It forwards to the kernel's
// KernelContext. Methods are called with the GIL held; input() releases it
// while it waits.
#pragma once

#include "ensemble/kernel/interpreter.hpp"

namespace ensemble::python {

struct Bridge {
  kernel::KernelContext* context = nullptr;
};

void link_bridge_module();

}  // namespace ensemble::python
