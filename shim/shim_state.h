// What the shim knows about the process it is loaded into, decided once by
// its constructor (shim_init.cc) before beam.smp's main runs:
// - whether this is beam.smp (every other process that inherits LD_PRELOAD --
//   erlexec, erl_child_setup, epmd, inet_gethost, os:cmd children -- stays
//   inert: no window, no memfd, every interposed call passes straight through);
// - the window and its mapper, when active;
// - the address range of beam.smp's own code, to tell its mmap calls apart.
#pragma once

#include <atomic>
#include <cstdint>

#include "vm_state_abi.h"
#include "window_mapper.h"

namespace nifshim {

struct ShimState {
  // Set once by the constructor; cleared in a forked child (it must not use
  // the window: it shares it with its parent until it execs).
  std::atomic<WindowMapper*> mapper{nullptr};
  std::uintptr_t beam_code_lo = 0, beam_code_hi = 0;
  bool is_beam = false;
  // How the shim got here: LD_PRELOAD (the VM's memory is in the window), or
  // as a dependency of a NIF library rebuilt against it (copy mode: the VM's
  // memory is not in the window; see copy_mode.h). Copy mode is set when the
  // first rebuilt library is isolated and creates the window.
  bool preloaded = false;
  std::atomic<bool> copy_mode{false};
  abi::VmState* vm_state = nullptr;  // in the window, for the workers

  WindowMapper* active_mapper() const { return mapper.load(std::memory_order_acquire); }
  bool from_beam_code(const void* return_address) const {
    auto a = reinterpret_cast<std::uintptr_t>(return_address);
    return a >= beam_code_lo && a < beam_code_hi;
  }
};

extern ShimState g_shim;

// In beam.smp without the preload (a rebuilt library's dependency): creates
// the window and turns copy mode on, once. false if it cannot (logged).
bool start_copy_mode();

}  // namespace nifshim
