// The worker's process-wide state: the window it shares with the VM, the
// library it hosts, and the service channel NIF-created threads use.
#pragma once

#include <cstdint>
#include <erl_nif.h>

#include "channel_abi.h"
#include "vm_state_abi.h"
#include "window.h"

namespace nifshim::worker {

struct WorkerState {
  Window window;                           // mapped at the VM's address
  const char* lib_name = "";               // for log lines
  void* handle = nullptr;                  // dlopen of the real library
  ErlNifEntry* entry = nullptr;            // what its nif_init returned (not owned)
  abi::Channel* service = nullptr;         // requests from threads without a channel
  int fdpass_fd = -1;                      // SCM_RIGHTS to the VM (enif_select)
  abi::VmState* vm_state = nullptr;        // the VM's cwd generation (in the window)
};

// Moves to the VM's current directory if it changed since last time (one
// load when it did not). Called before each call the worker runs.
void follow_vm_cwd();

extern WorkerState g_worker;

// Copy mode (abi/vm_state_abi.h): the VM's memory is not in the window.
inline bool vm_copy_mode() { return g_worker.vm_state != nullptr && g_worker.vm_state->copy_mode != 0; }

inline bool in_window(const void* p) {
  auto a = reinterpret_cast<std::uintptr_t>(p);
  return a - g_worker.window.base < g_worker.window.size;
}

}  // namespace nifshim::worker
