// The mmap family as beam.smp sees it. Each function is interposed so that
// the VM's anonymous memory -- its heaps, binaries, ETS, literals: everything
// NIFs are handed pointers into -- lives in the shared window at the same
// address in every process. In any process where the shim is inert, and for
// every mapping that is not the VM's anonymous private data, they pass
// straight to the kernel.
#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <sys/mman.h>

#include "export.h"
#include "log.h"
#include "raw_syscalls.h"
#include "shim_state.h"

using nifshim::g_shim;
using nifshim::WindowMapper;
namespace raw = nifshim::raw;

namespace {

std::uintptr_t addr_of(void* p) { return reinterpret_cast<std::uintptr_t>(p); }
void* ptr_of(std::uintptr_t a) { return reinterpret_cast<void*>(a); }
std::size_t page_round(std::size_t len) { return (len + 4095) & ~std::size_t{4095}; }

// Memory the VM allocates for itself: anonymous, private, not executable (the
// JIT maps its code from a shm file and never comes here), no special kinds.
bool is_vm_data(int prot, int flags) {
  return (flags & MAP_ANONYMOUS) && (flags & MAP_TYPE) == MAP_PRIVATE && !(prot & PROT_EXEC) &&
         !(flags & (MAP_GROWSDOWN | MAP_HUGETLB));
}

void* mmap_hook(void* addr, size_t len, int prot, int flags, int fd, off_t off, void* caller) {
  WindowMapper* m = g_shim.active_mapper();
  if (m == nullptr) return raw::mmap(addr, len, prot, flags, fd, off);
  const nifshim::Window& w = m->window();
  const bool fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE);
  if (fixed && w.overlaps(addr_of(addr), len)) {
    if (is_vm_data(prot, flags) && w.contains(addr_of(addr), page_round(len)))
      return m->map_fixed(addr, len, prot, flags);
    if (!(flags & MAP_FIXED)) { errno = EEXIST; return MAP_FAILED; }  // NOREPLACE
    nifshim::log_error("refusing a fixed mapping (prot %#x flags %#x fd %d) over the window at %p",
                       prot, flags, fd, addr);
    errno = ENOMEM;
    return MAP_FAILED;
  }
  // Only beam.smp's own code: libraries it loads (and NIFs) keep private memory.
  if (!fixed && is_vm_data(prot, flags) && g_shim.from_beam_code(caller))
    return m->map(len, prot, flags);
  return raw::mmap(addr, len, prot, flags, fd, off);
}

// Applies `in_window` to the part of [addr, addr+len) inside the window and
// `outside` to the parts before and after it.
template <typename InWindow, typename Outside>
int split_by_window(const nifshim::Window& w, void* addr, size_t len, InWindow in_window,
                    Outside outside) {
  std::uintptr_t lo = addr_of(addr), hi = lo + page_round(len);
  std::uintptr_t wlo = lo < w.base ? w.base : lo, whi = hi > w.end() ? w.end() : hi;
  int r = 0;
  if (lo < wlo && outside(ptr_of(lo), wlo - lo) != 0) r = -1;
  if (in_window(ptr_of(wlo), whi - wlo) != 0) r = -1;
  if (whi < hi && outside(ptr_of(whi), hi - whi) != 0) r = -1;
  return r;
}

}  // namespace

// The definitions are named by assembler label: with _FILE_OFFSET_BITS=64 the
// libc headers already map the C name `mmap` onto the symbol mmap64.

// Allocation: the VM's anonymous private mappings come from the window.
extern "C" NIFSHIM_EXPORT void* nifshim_mmap(void* addr, size_t len, int prot, int flags, int fd,
                                             off_t off) __asm__("mmap");
void* nifshim_mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  return mmap_hook(addr, len, prot, flags, fd, off, __builtin_return_address(0));
}

// The same under its LFS name (identical to mmap on 64-bit glibc).
extern "C" NIFSHIM_EXPORT void* nifshim_mmap64(void* addr, size_t len, int prot, int flags, int fd,
                                               off_t off) __asm__("mmap64");
void* nifshim_mmap64(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  return mmap_hook(addr, len, prot, flags, fd, off, __builtin_return_address(0));
}

// Release: a window range goes back to the window's allocator (pages dropped)
// instead of leaving a hole in the reservation anyone could map into.
extern "C" NIFSHIM_EXPORT int munmap(void* addr, size_t len) noexcept {
  WindowMapper* m = g_shim.active_mapper();
  if (m == nullptr || !m->window().overlaps(addr_of(addr), len)) return raw::munmap(addr, len);
  return split_by_window(
      m->window(), addr, len, [m](void* a, size_t l) { return m->unmap(a, l); },
      [](void* a, size_t l) { return raw::munmap(a, l); });
}

// Resize: the kernel's mremap would move a range without keeping
// address == base + offset, so window ranges grow in place or move by copy.
extern "C" NIFSHIM_EXPORT void* mremap(void* old, size_t old_len, size_t new_len, int flags,
                                       ...) noexcept {
  void* new_addr = nullptr;
  if (flags & MREMAP_FIXED) {
    va_list ap;
    va_start(ap, flags);
    new_addr = va_arg(ap, void*);
    va_end(ap);
  }
  WindowMapper* m = g_shim.active_mapper();
  if (m == nullptr) return raw::mremap(old, old_len, new_len, flags, new_addr);
  const nifshim::Window& w = m->window();
  if (w.overlaps(addr_of(old), old_len ? old_len : 1)) {
    if (w.contains(addr_of(old), page_round(old_len)))
      return m->remap(old, old_len, new_len, flags, new_addr);
    errno = EINVAL;  // straddles the window's edge: no kernel would accept this either
    return MAP_FAILED;
  }
  if ((flags & MREMAP_FIXED) && w.overlaps(addr_of(new_addr), new_len)) {
    nifshim::log_error("refusing mremap of %p to %p inside the window", old, new_addr);
    errno = ENOMEM;
    return MAP_FAILED;
  }
  return raw::mremap(old, old_len, new_len, flags, new_addr);
}

// Discard: MADV_DONTNEED/FREE/REMOVE must return the pages and read as zero
// afterwards, which on the shared window means punching a hole (MADV_FREE on
// a shared mapping fails with EINVAL; DONTNEED would keep the data).
extern "C" NIFSHIM_EXPORT int madvise(void* addr, size_t len, int advice) noexcept {
  WindowMapper* m = g_shim.active_mapper();
  if (m == nullptr || !m->window().overlaps(addr_of(addr), len))
    return raw::madvise(addr, len, advice);
  return split_by_window(
      m->window(), addr, len, [m, advice](void* a, size_t l) { return m->advise(a, l, advice); },
      [advice](void* a, size_t l) { return raw::madvise(a, l, advice); });
}
