// The VM side of a channel exchange: a scheduler (or any VM thread) sends a
// NIF call, a resource callback or a load to the worker and waits for the
// answer, running the enif requests the worker sends meanwhile on this very
// thread (the one that owns the env).
#pragma once

#include <erl_nif.h>

#include <atomic>
#include <cstdint>

#include "channel_abi.h"

namespace nifshim {

class Worker;
struct NifLibrary;

// Runs function `fn` (an index into the library's functions, or a function
// the NIF scheduled) in the worker. Raises {nifshim, ...} if it cannot.
// `built`: set once the function built terms on its call's heap; from then
// on the heap is lent with each call (no priv_heap_reserve round trip).
ERL_NIF_TERM call_nif(NifLibrary* lib, std::uint64_t fn, const char* fname, ErlNifEnv* env,
                      int argc, const ERL_NIF_TERM argv[], std::atomic<bool>* built);

// Runs a resource callback in the worker; false if the worker is gone.
bool call_callback(Worker* w, abi::CallbackKind kind, std::uint64_t fn, ErlNifEnv* env,
                   void* obj, std::uint64_t arg2, std::uint64_t arg3,
                   const void* copy2 = nullptr, std::size_t copy2_len = 0,
                   const void* copy3 = nullptr, std::size_t copy3_len = 0);

// Runs load/upgrade/unload in the worker: slots in, out[0..2] out.
bool call_load(Worker* w, abi::LoadKind kind, const std::uint64_t* in, int nin,
               std::uint64_t* out);

}  // namespace nifshim
