// Logging for code that runs where malloc, locks and stdio are not safe:
// inside interposed mmap/fork, before main, on fault paths. Formats into a
// stack buffer and emits one write(2) per line, so lines from concurrent
// threads do not interleave.
#pragma once

#include <cstdarg>

namespace nifshim {

// "nifshim[PID]: <message>\n" on stderr, always.
void log_error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// The same, only when NIFSHIM_DEBUG is set to a non-empty value other than 0.
void log_debug(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Read NIFSHIM_DEBUG once; called by the shim's constructor.
void log_init_from_env();

}  // namespace nifshim
