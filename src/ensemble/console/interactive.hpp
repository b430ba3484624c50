// The two ways a console runs: at a terminal, and fed by a pipe.
#pragma once

#include "ensemble/console/console.hpp"
#include "kernel_session.hpp"

namespace ensemble::console {

int run_interactive(KernelSession& session, const ConsoleOptions& options);
// Runs the cells read from stdin; 1 if a cell raised (the rest are skipped).
int run_piped(KernelSession& session);
// An observer's console: shows everyone's work, offers no prompt to execute.
int run_observer(KernelSession& session);

}  // namespace ensemble::console
