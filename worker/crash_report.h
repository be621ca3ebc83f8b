// The worker's last words: on a fatal signal (SIGSEGV, SIGBUS, SIGFPE,
// SIGILL, SIGABRT, SIGSYS, stack overflow included, on an alternate stack)
// it writes the signal, the fault address and the native backtrace of the
// crashing thread to stderr -- and into the crash record the VM reads after
// the death -- then dies by the same signal.
#pragma once

#include <cstddef>
#include <cstdint>

namespace nifshim::worker {

// `record` (in the window, may be null): where the VM reads the report.
// vm_ignored: the signals the VM ignores (bit s-1 for signal s), as the VM
// says at spawn: a sanitizer's runtime replaces dispositions before main.
void crash_report_install(void* record, std::size_t record_size, std::uint64_t vm_ignored);

// Records a voluntary exit (exit/_exit/_Exit) unless a crash was recorded.
void crash_report_exit(int status);

// Gives each new thread an alternate signal stack (stack overflows).
void crash_report_thread_init();

}  // namespace nifshim::worker
