// The mmap family's semantics, implemented inside the window: what an
// anonymous private mapping promises (fresh zero pages, private to nobody but
// our peers, resizable, releasable) given on top of one shared memfd, with
// every range at base + offset. Used by the interposed mmap/munmap/mremap/
// madvise in beam.smp (interpose_mmap.cc) and by the unit tests directly.
//
// Invariant: a free range of the window is PROT_NONE and has no pages in the
// memfd, except the parts in the kept set (kept_pages.h), whose pages are
// zeroed when they are handed out again; a range in use has the protection
// its caller asked for.
#pragma once

#include <atomic>
#include <cstddef>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <pthread.h>

#include "kept_pages.h"
#include "region_alloc.h"
#include "window.h"

namespace nifshim {

class WindowMapper {
 public:
  // `w` (not owned) must outlive the mapper. Bookkeeping memory is mapped
  // privately outside the window. Up to `keep_max` bytes of unmapped memory
  // keep their pages for reuse (0: every unmap punches its pages at once).
  explicit WindowMapper(const Window& w, std::size_t keep_max = 0);
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

  // Kept pages: how many bytes are kept now, and punching those kept since
  // `cutoff_ns` (CLOCK_MONOTONIC) or earlier; returns the bytes punched.
  std::size_t kept_bytes();
  // Bytes of memfd pages inside free ranges, counted from the memfd itself
  // (SEEK_DATA/SEEK_HOLE): kept pages, and nothing else. Slow; for tests and
  // nifshim:memory().
  std::size_t free_resident_bytes();
  std::size_t resident_bytes();  // all memfd pages (st_blocks lags behind punches)
  std::size_t release_kept(std::uint64_t cutoff_ns);
  // A thread (signals blocked) that punches pages kept longer than
  // `max_age_ns`, checking every quarter of it while any are kept.
  bool start_releaser(std::uint64_t max_age_ns);
  std::size_t keep_max() const { return kept_ ? kept_->max_bytes() : 0; }
  std::uint64_t keep_max_age_ns() const { return max_age_ns_; }

  // What the mapper did (NIFSHIM_DEBUG logs it at exit).
  struct Stats {
    std::uint64_t maps, unmaps, freed_bytes, reused_bytes, zeroed_pages, punched_bytes,
        grown_in_place, moved, moved_bytes;
  };
  Stats stats();

 private:
  void* fail_exhausted(std::size_t len);
  int release_locked(std::uintptr_t a, std::size_t len);
  struct Pieces;
  void take_kept_locked(std::uintptr_t a, std::size_t len, Pieces* zero_later);
  int zero_pieces(const Pieces& p);
  int zero_resident(std::uintptr_t a, std::size_t len);
  void release_loop();
  static void punch(void* self, std::uintptr_t a, std::size_t len);
  static void* releaser_main(void* self);
  void count_move(std::size_t bytes);

  Window w_;
  RegionAllocator* alloc_ = nullptr;  // placement-constructed in bookkeeping_
  void* bookkeeping_ = nullptr;
  std::size_t bookkeeping_len_ = 0;
  KeptPages* kept_ = nullptr;         // placement-constructed in bookkeeping_
  Stats stats_{};
  std::atomic<std::uint64_t> zeroed_pages_{0};
  std::uint64_t max_age_ns_ = 0;
  bool releaser_running_ = false, stop_ = false;
  pthread_t releaser_{};
  std::condition_variable cv_;        // wakes the releaser
  std::mutex mu_;
};

std::uint64_t monotonic_ns();

// Alignment the mapper gives a fresh range of `len` bytes.
std::size_t window_alignment_for(std::size_t len);

}  // namespace nifshim
