// Running the worker's enif requests in the VM, on the thread that waits on
// the channel (the one that owns the env). Forwarded functions are generated
// from abi/enif_api.def (enif_serve.cc); custom and private requests are in
// enif_serve_custom.cc.
#pragma once

#include <cstddef>
#include <cstdint>

#include <erl_nif.h>

#include "channel_abi.h"
#include "enif_api.h"

namespace nifshim {

class Worker;

// Serves the kEnif message in c and writes the kReply (not yet posted).
// *top is this thread's data-stack top on c: nested messages go above the
// request's own payload while the real function runs. direct_env: the env of
// the NIF call whose heap the worker builds on directly (vm_exchange.cc), or
// null: its hp is taken from the request and given back in the reply.
void serve_enif(Worker* w, abi::Channel* c, std::uint64_t* top, ErlNifEnv* direct_env);

// The custom and private requests; returns slot[0] of the reply and may set
// reply_extra (slot[1]) and, for priv_probe_terms, the other slots.
std::uint64_t serve_custom(Worker* w, abi::ApiId id, std::uint64_t* slot,
                           std::uint64_t* reply_extra);

// A resource object is being destroyed (its type's destructor, in the VM):
// frees the copies of outside-the-window data enif_make_resource_binary
// made for it. Cheap when there are none.
void free_resource_binary_copies(void* vm_obj);

// Where ERTS's Process keeps its off-heap list (ErlOffHeap: first,
// overhead), found by the VM itself in the term probe's process as the
// worker finds it (worker/enif_direct_offheap.cc); 0 until the probe ran or
// if it was not found. The worker links terms into that list only once it
// has probed, so 0 means it never has.
std::size_t proc_off_heap_offset();

// The head of ERTS's ErlNifEnv (x86-64, OTP 18-28): the heap a NIF call
// builds on. vm_exchange.cc reads and writes hp/hp_end of a call's env.
struct EnvHead {
  void* mod_nif;
  void* proc;
  std::uint64_t* hp;
  std::uint64_t* hp_end;
  void* heap_frag;
};
inline EnvHead* env_head(ErlNifEnv* env) { return reinterpret_cast<EnvHead*>(env); }

}  // namespace nifshim
