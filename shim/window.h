// The window: one memfd mapped MAP_SHARED at the same base address in every
// process that takes part (beam.smp, its workers). Address A in the window is
// byte A - base of the memfd in all of them, so pointers are valid everywhere.
//
// This file owns the mechanism only: create (beam.smp side), attach (any
// other process), and the page-level operations. Which ranges are in use is
// region_alloc.h's business; the mmap semantics are window_mapper.h's.
#pragma once

#include <cstddef>
#include <cstdint>

namespace nifshim {

struct Window {
  int fd = -1;             // the memfd (owned by whoever created/attached)
  std::uintptr_t base = 0;
  std::size_t size = 0;

  bool contains(std::uintptr_t addr, std::size_t len) const {
    return addr >= base && len <= size && addr - base <= size - len;
  }
  bool overlaps(std::uintptr_t addr, std::size_t len) const {
    return len > 0 && addr < base + size && addr + len > base;
  }
  std::uintptr_t end() const { return base + size; }
};

// Creates the memfd (sparse, `size` bytes) and reserves [base, base+size) as
// a PROT_NONE shared mapping of it. Tries `preferred_base` first; if that
// range is taken (or unusable) falls back to a free hole of the address
// space, aligned to `align`. Returns 0 or -errno; `*why` names the failing step.
int window_create(std::size_t size, std::uintptr_t preferred_base, std::size_t align,
                  Window* out, const char** why);

// Maps an existing window memfd read-write at exactly `base` in this process,
// refusing (EEXIST) if anything already occupies the range. Returns 0 or -errno.
int window_attach(int fd, std::uintptr_t base, std::size_t size, Window* out);

// Unmaps the window and closes the fd.
void window_destroy(Window* w);

// Drops the pages of [addr, addr+len) from the memfd (they read as zero
// afterwards, in every process). Page-aligned. Returns 0 or -errno.
int window_discard(const Window& w, std::uintptr_t addr, std::size_t len);

// Parses sizes like "68719476736", "64G", "512M", "1T". 0 on error.
std::size_t parse_size(const char* text);

}  // namespace nifshim
