// The crash record: a page in the window per worker where the worker writes
// how it died (fatal signal, exit), for the VM to put into the error terms
// and the crash report. A worker killed from outside (SIGKILL, the OOM
// killer) leaves it empty.
#pragma once

#include <cstdint>

namespace nifshim::abi {

enum CrashState : std::uint32_t { kCrashNone = 0, kCrashSignal = 1, kCrashExit = 2 };

inline constexpr int kCrashFrames = 48;

struct CrashRecord {
  std::uint32_t state;        // CrashState, written last
  std::int32_t signal;        // kCrashSignal
  std::int32_t code;          // si_code
  std::int32_t exit_status;   // kCrashExit
  std::uint64_t fault_address;
  std::uint32_t nframes;
  std::uint64_t frames[kCrashFrames];  // return addresses in the worker
};

}  // namespace nifshim::abi
