// What a worker counts for nifshim:workers(), in the pages of its crash
// record (abi/crash_abi.h), after the record itself. The worker only adds
// to these; the VM only reads them. The pages are cleared when a restart
// reuses them, so the figures are the live worker's.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "crash_abi.h"

namespace nifshim::abi {

struct WorkerStats {
  std::atomic<std::int64_t> arena_bytes;   // enif_alloc'ed and not freed (usable sizes)
  std::atomic<std::uint64_t> arena_allocs; // enif_alloc/enif_realloc calls that succeeded
};

inline constexpr std::size_t kWorkerStatsOffset = 6144;
static_assert(sizeof(CrashRecord) <= kWorkerStatsOffset, "the stats follow the crash record");
static_assert(kWorkerStatsOffset + sizeof(WorkerStats) <= kCrashRecordSize, "and share its pages");
static_assert(std::atomic<std::int64_t>::is_always_lock_free, "shared between processes");

inline WorkerStats* worker_stats(void* crash_record) {
  return crash_record ? reinterpret_cast<WorkerStats*>(static_cast<char*>(crash_record) + kWorkerStatsOffset)
                      : nullptr;
}

}  // namespace nifshim::abi
