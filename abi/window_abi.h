// The shared term heap as both processes see it: the contract between the
// shim (which creates the window inside beam.smp) and any process that maps
// it (the worker, test peers). Plain constants only; no code.
#pragma once

#include <cstddef>
#include <cstdint>

namespace nifshim::abi {

// Name given to memfd_create(); shows up as "/memfd:nifshim-window" in
// /proc/PID/maps and /proc/PID/fd, which is how tools find the window.
inline constexpr char kWindowMemfdName[] = "nifshim-window";

// Preferred base: clear of PIE executables, libraries, stacks and the
// kernel's top-down mmap area on x86-64 (verified over 300 starts). The window
// falls back to a free hole when the range is taken.
inline constexpr std::uintptr_t kWindowDefaultBase = 0x200000000000ull;

// Virtual space is free; the window is a hard ceiling for the VM's memory.
inline constexpr std::size_t kWindowDefaultSize = std::size_t{256} << 30;

// Smallest window accepted: ERTS alone reserves a 1 GiB literal area.
inline constexpr std::size_t kWindowMinSize = std::size_t{2} << 30;

// ERTS carriers are "super-aligned" to 256 KiB; handing out ranges of at
// least that size on that alignment spares ERTS its map-bigger-and-trim path.
inline constexpr std::size_t kCarrierAlign = std::size_t{256} << 10;

inline constexpr std::size_t kPageSize = 4096;

// Environment variables read by the shim (documented in README.md).
inline constexpr char kEnvWindowSize[] = "NIFSHIM_WINDOW_SIZE";
inline constexpr char kEnvWindowBase[] = "NIFSHIM_WINDOW_BASE";
inline constexpr char kEnvDisable[] = "NIFSHIM_DISABLE";
inline constexpr char kEnvDebug[] = "NIFSHIM_DEBUG";
inline constexpr char kEnvKeep[] = "NIFSHIM_KEEP";        // bytes of freed pages kept for reuse
inline constexpr char kEnvKeepMs[] = "NIFSHIM_KEEP_MS";   // how long, at most

// Defaults: the VM's freed window pages are kept up to this much, this long.
inline constexpr std::size_t kKeepDefault = std::size_t{256} << 20;
inline constexpr unsigned kKeepMsDefault = 1000;

}  // namespace nifshim::abi
