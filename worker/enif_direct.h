// The direct path (issue: near-native enif speed). With the preload the VM's
// heap is shared, so the worker reads terms straight from it and builds small
// ones itself on the heap of the NIF call it runs: the VM sends the call
// env's [hp, hp_end) with the call (abi/channel_abi.h), the worker allocates
// by advancing hp, and says where it got to with every forwarded request and
// at return. When the heap is full, or the env is not the call's, or a value
// needs the VM (bignums, exceptions, anything not in abi/term_layout.h), the
// function is forwarded as before.
//
// The layout is verified once per worker against terms the VM builds with
// its own enif functions (priv_probe_terms); if anything differs, every term
// function is forwarded and a log line says so. NIFSHIM_DIRECT=0 turns the
// direct path off; copy mode (no preload) never has it.
#pragma once

#include <erl_nif.h>

#include <atomic>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace nifshim::worker {

// Once per worker, on a thread serving the VM: the probe (a request to the
// VM on the thread's channel). direct_probed(): it has run.
void direct_init();
bool direct_probed();

// The layout was verified and the direct path is on.
bool direct_enabled();

// n words on the heap of the NIF call being run, for that call's env (asks
// the VM for room when it has none); nullptr: the term must be forwarded.
ERL_NIF_TERM* direct_heap(ErlNifEnv* env, std::size_t n);

// enif_make_tuple / enif_make_list (varargs): the terms are written straight
// to the call's heap, as erl_nif.c does; false (nothing consumed from `ap`)
// when the direct path cannot build them.
bool direct_make_tuple_va(ErlNifEnv* env, unsigned cnt, va_list ap, ERL_NIF_TERM* out);
bool direct_make_list_va(ErlNifEnv* env, unsigned cnt, va_list ap, ERL_NIF_TERM* out);

// The learned direct paths (resources, off-heap terms, reductions): the
// worker compares what the VM did in forwarded calls with what it would have
// done, and does it itself once kLearnAgree agreed; one disagreement keeps
// the path forwarded for good, with a log line.
inline constexpr int kLearnAgree = 3;
struct Learning {
  std::atomic<int> state{0};  // 0: learning, 1: direct, -1: forwarded for good
  std::mutex mu;              // one comparison at a time
  int agreed = 0;
  bool direct() const { return state.load(std::memory_order_acquire) > 0; }
  bool learning() const { return state.load(std::memory_order_acquire) == 0; }
};

// The word at byte offset `at` of VM memory in the window.
inline std::uint64_t word_at(const unsigned char* p, std::size_t at) {
  return *reinterpret_cast<const std::uint64_t*>(p + at);
}

// Resource objects in place (enif_direct_resource.cc). enif_get_resource's
// answer, 1 or 0, without a round trip, or -1: ask the VM.
int direct_get_resource(ERL_NIF_TERM t, ErlNifResourceType* type, void** objp);
// After a forwarded enif_get_resource: the VM's answer, to learn from.
void direct_resource_learn(ERL_NIF_TERM t, ErlNifResourceType* type, int vm_ok, void* vm_obj);
// After enif_alloc_resource: its header names this worker's library and generation.
void direct_resource_owner(void* obj);
// The magic binary that holds this worker's resource object `obj`, once the
// layout was learned; nullptr: ask the VM.
unsigned char* direct_resource_binary(void* obj);

// Off-heap terms in place (enif_direct_offheap.cc): where the process's
// off-heap list lies, from the probe env's process, which holds the probe's
// refc binary alone.
void direct_offheap_probe(ERL_NIF_TERM refc_bin, ERL_NIF_TERM env_proc);

// The forwarding half of each ENIF_FWD_DIRECT function (enif_forward.cc).
namespace fwd {
#define ENIF_FWD(ret, name, params, args, kinds)
#define ENIF_FWD_DIRECT(ret, name, params, args, kinds) ret name params;
#define ENIF_LOCAL(name)
#define ENIF_CUSTOM(name)
#include "enif_api.def"
#undef ENIF_FWD
#undef ENIF_FWD_DIRECT
#undef ENIF_LOCAL
#undef ENIF_CUSTOM
}  // namespace fwd

}  // namespace nifshim::worker
