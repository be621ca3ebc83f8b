// Process-wide VM state workers follow: one page in the window, written by
// the shim in beam.smp, read by every worker before it runs a call.
#pragma once

#include <atomic>
#include <cstdint>

namespace nifshim::abi {

struct VmState {
  std::atomic<std::uint32_t> cwd_generation;  // bumped by every chdir/fchdir in beam.smp
  std::int32_t vm_pid;                        // where /proc/PID/cwd says the directory
  // 1: rebuilt mode without the preload: the VM's memory is not in the window,
  // the worker never sees it (resources are allocated in the worker's arena).
  std::uint32_t copy_mode;
};

}  // namespace nifshim::abi
