// The mmap family's semantics, implemented inside the window: what an
// anonymous private mapping promises (fresh zero pages, private to nobody but
// our peers, resizable, releasable) given on top of one shared memfd, with
// every range at base + offset. Used by the interposed mmap/munmap/mremap/
// madvise in beam.smp (interpose_mmap.cc) and by the unit tests directly.
//
// Invariant: a free range of the window is PROT_NONE and has no pages in the
// memfd; a range in use has the protection its caller asked for.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>

#include "region_alloc.h"
#include "window.h"

namespace nifshim {

class WindowMapper {
 public:
  // `w` (not owned) must outlive the mapper. Bookkeeping memory is mapped
  // privately outside the window.
  explicit WindowMapper(const Window& w);
  ~WindowMapper();
  WindowMapper(const WindowMapper&) = delete;
  WindowMapper& operator=(const WindowMapper&) = delete;

  bool ok() const { return alloc_ != nullptr; }
  const Window& window() const { return w_; }

  // Each returns what the libc function would: MAP_FAILED / -1 with errno.
  // Lengths need not be page multiples (they are rounded up, as the kernel does).
  void* map(std::size_t len, int prot, int flags);                  // anywhere
  void* map_aligned(std::size_t len, std::size_t align, int prot);    // anywhere, aligned
  void* map_fixed(void* addr, std::size_t len, int prot, int flags);  // inside the window
  int unmap(void* addr, std::size_t len);                              // inside the window
  void* remap(void* old, std::size_t old_len, std::size_t new_len, int flags, void* new_addr);
  int advise(void* addr, std::size_t len, int advice);                 // inside the window

  std::size_t free_bytes();
  std::size_t largest_free();
  bool is_valid();

 private:
  void* fail_exhausted(std::size_t len);
  int release_locked(std::uintptr_t a, std::size_t len);

  Window w_;
  RegionAllocator* alloc_ = nullptr;  // placement-constructed in bookkeeping_
  void* bookkeeping_ = nullptr;
  std::size_t bookkeeping_len_ = 0;
  std::mutex mu_;
};

// Alignment the mapper gives a fresh range of `len` bytes.
std::size_t window_alignment_for(std::size_t len);

}  // namespace nifshim
