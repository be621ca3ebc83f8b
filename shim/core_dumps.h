// Opt-in core dumps of crashing workers (never of the VM): NIFSHIM_CORE_DIR
// names a directory; a worker that dies of a signal that dumps core writes
// its core there (worker/crash_report.cc moves there and lifts RLIMIT_CORE),
// and the VM names it after the library and the worker and keeps the newest
// NIFSHIM_CORE_KEEP (default 3) per library. The core holds the worker's own
// memory and its threads' stacks, not the shared window (see window.cc).
#pragma once

#include <cstddef>
#include <sys/types.h>

namespace nifshim {

// The directory, or nullptr when core dumps are off.
const char* core_dir();

// Whether the kernel dumps core for a process killed by sig.
bool dumps_core(int sig);

// After a worker of library `lib` (its base name) with process `pid` died
// with a core dump: moves the core the kernel wrote to
// DIR/nif-LIB-PID.core and drops the oldest of that library's beyond the
// limit. The path, or a sentence saying where the core went instead
// ("the system's core_pattern ..."), goes into `out`. false if there is
// nothing to name.
bool collect_core(const char* lib, pid_t pid, char* out, std::size_t outlen);

}  // namespace nifshim
