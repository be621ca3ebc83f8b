// Copy mode: a NIF library rebuilt against nifshim and loaded by a plain
// beam.smp (no LD_PRELOAD). The VM's memory is not in the window, so the
// worker cannot read what the API's pointers point to. The VM side carries
// each such pointer through the window instead:
// - views (enif_inspect_binary, enif_inspect_iolist_as_binary, enif_get_tuple's
//   array, enif_inspect_iovec's data, enif_ioq_peek) are copied into a window
//   arena that lives as long as the env (the call, a callback, or until
//   enif_clear_env/enif_free_env/enif_send) or, for a queue, until it changes;
// - binaries the NIF owns (enif_alloc_binary, enif_realloc_binary,
//   enif_term_to_binary) get a window buffer of their own, copied to the VM's
//   binary when ownership passes back (make_binary, realloc, release,
//   ioq_enq_binary);
// - enif_make_new_binary's buffer is a window copy written back to the VM's
//   binary before every later request and when the env ends.
// Resource objects live in the worker's arena (abi/resource_abi.h).
// Pointers that already lie in the window pass as they are.
#pragma once

#include <erl_nif.h>

#include <cstdint>

#include "enif_api.h"
#include "shim_state.h"

namespace nifshim {

inline bool copy_mode() { return g_shim.copy_mode.load(std::memory_order_relaxed); }

// Around a forwarded request run in the VM (copy mode only): `slot` holds the
// request's arguments as the real function will see them; `result` its value.
void copy_before(abi::ApiId id, std::uint64_t* slot);
void copy_after(abi::ApiId id, std::uint64_t* slot, std::uint64_t* result);

// The env (or queue) is done: write back its new binaries, free its copies.
void copy_env_done(const void* env);

// Writes back the enif_make_new_binary buffers of the envs this thread serves.
void copy_sync();

}  // namespace nifshim
