// The processes `ensemble cluster` starts and stops: a controller, engines, and an MPI
// launcher (mpiexec) per MPI engine set. Called on the CLI's one thread.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace ensemble::cli {

// True while `pid` runs; a zombie counts as gone (its parent may never reap it).
bool running(pid_t pid);

// Whether `pid` runs this program: a pid in the cluster file whose process
// ended (an engine stopped on its own) may be another program's by now.
bool runs_ensemble(pid_t pid);

// The program `pid` runs (its /proc/PID/exe), "" if it cannot be read.
std::string program_of(pid_t pid);

// Whether `program` would start: an executable path, or a name found on PATH.
bool finds_program(const std::string& program);

// Starts `argv` (argv[0] found on PATH if it has no '/') in a process group of its own, so
// that a stop can end whatever it starts; output appended to `log`. -1 if it cannot start.
pid_t spawn(const std::vector<std::string>& argv, const std::string& log);

}  // namespace ensemble::cli
