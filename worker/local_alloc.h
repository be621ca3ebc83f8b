// The worker's allocator for memory the VM must be able to see:
// enif_alloc/enif_realloc/enif_free and worker scratch buffers, served by
// mimalloc from one EXCLUSIVE arena that lies in shared memory (the window)
// handed to the worker. Nothing else allocates there, and these functions
// never allocate anywhere else: before local_alloc_init succeeds they fail.
//
// Each thread allocates from its own mimalloc heap (created in the arena on
// its first allocation; a mimalloc heap may only allocate from its owning
// thread). Frees may come from any thread.
#pragma once

#include <cstddef>

#include "worker_stats_abi.h"

namespace nifshim::worker {

// mimalloc (2.0.x, 64-bit) manages an arena in blocks of 32 MiB
// (MI_ARENA_BLOCK_SIZE == MI_SEGMENT_SIZE) and requires the arena's start to
// be aligned to 32 MiB (MI_SEGMENT_ALIGN). So:
// - arena_base must be a multiple of kLocalArenaAlign;
// - arena_size must be at least kLocalArenaAlign; only whole 32 MiB blocks
//   are used (a tail shorter than a block is never touched);
// - the memory must be mapped read/write (mimalloc treats it as committed and
//   never decommits it) and read as zero (mimalloc 2.0.9 assumes an arena
//   block it has never handed out is zeroed);
// - one allocation needs contiguous blocks: a block of N bytes above 16 MiB
//   takes ceil((N + ~64 KiB) / 32 MiB) blocks.
inline constexpr std::size_t kLocalArenaAlign = std::size_t{32} << 20;

// Hand the arena to mimalloc. Once per process, before any NIF code runs.
// false (with a line on stderr): bad alignment/size (nothing happened; it
// may be called again), a second successful-looking call, or mimalloc
// refused the memory.
bool local_alloc_init(void* arena_base, std::size_t arena_size);

// Allocate from the arena on the calling thread's heap (local_alloc(0)
// returns a unique pointer, as enif_alloc(0) does). nullptr when the arena is
// exhausted or not set up (the latter also writes a line on stderr).
void* local_alloc(std::size_t size);

// Free a block from local_alloc or enif_alloc, from any thread; nullptr is a
// no-op. A pointer outside the arena is reported on stderr and not freed.
void local_free(void* p);

// enif_alloc/enif_realloc/enif_free count what the NIF holds into *stats
// (in the window, read by the VM); nullptr: no counting.
void local_alloc_count_into(abi::WorkerStats* stats);

// Is p inside the arena given to local_alloc_init?
bool local_alloc_contains(const void* p);

}  // namespace nifshim::worker
