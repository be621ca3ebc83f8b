// The crash record: a page in the window per worker where the worker writes
// how it died (fatal signal, exit), for the VM to put into the error terms
// and the crash report. A worker killed from outside (SIGKILL, the OOM
// killer) leaves it empty.
#pragma once

#include <cstddef>
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
  char text[kCrashFrames][96];         // each frame as "object(symbol+0xoff)"
};

inline constexpr std::size_t kCrashRecordSize = 8192;
static_assert(sizeof(CrashRecord) <= kCrashRecordSize, "one crash record fits two pages");

}  // namespace nifshim::abi
