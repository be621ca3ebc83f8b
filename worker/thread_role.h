// What a worker thread is doing on behalf of the VM: the channel it serves
// (and so where its enif requests go), the VM thread type it answers for
// enif_thread_type, and the env/priv_data of the NIF call it runs.
#pragma once

#include <cstdint>
#include <erl_nif.h>

#include "channel_abi.h"

namespace nifshim::worker {

struct ThreadRole {
  abi::Channel* active = nullptr;  // where requests go now; null: the service channel
  std::uint64_t top = 0;           // first free byte of active->data for a new frame
  int thread_type = ERL_NIF_THR_UNDEFINED;
  ErlNifEnv* env = nullptr;        // env of the NIF call being run, if any
  void* priv_value = nullptr;      // its enif_priv_data (as the VM sent it)
  void** priv_slot = nullptr;      // where enif_priv_data(env) reads it (load: what load stores)
  // The direct heap of the NIF call being run (enif_direct.h): terms for env
  // are built at hp while hp < hp_end. 0: none (forward instead).
  std::uint64_t hp = 0, hp_end = 0;
  std::uint64_t proc = 0;  // the call env's process, with the heap (its off-heap list)
  bool heap_ok = false;  // the call's heap may be asked for (normal scheduler, direct path on)
};

// Inline: the direct path (enif_direct.cc) asks on every term it builds.
inline ThreadRole& thread_role() {
  static thread_local ThreadRole role;
  return role;
}

// Threads created by enif_thread_create: no channel, ERL_NIF_THR_UNDEFINED.
void thread_role_set_nif_thread();

}  // namespace nifshim::worker
