// The memfd window: creation, attachment and page release. See window.h.
#include "window.h"

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include "raw_syscalls.h"
#include "window_abi.h"

namespace nifshim {
namespace {

// Reserve [base, base+size) as PROT_NONE view of the memfd; nothing else in
// the process can be placed there afterwards. MAP_NORESERVE: no commit charge.
int reserve_at(int fd, std::uintptr_t base, std::size_t size) {
  void* p = raw::mmap(reinterpret_cast<void*>(base), size, PROT_NONE,
                      MAP_SHARED | MAP_NORESERVE | MAP_FIXED_NOREPLACE, fd, 0);
  if (p == MAP_FAILED) return -errno;
  if (reinterpret_cast<std::uintptr_t>(p) != base) {  // pre-4.17 kernels ignore NOREPLACE
    raw::munmap(p, size);
    return -EEXIST;
  }
  return 0;
}

// Let the kernel pick a hole of size+align, then keep an aligned part of it.
int reserve_anywhere(int fd, std::size_t size, std::size_t align, std::uintptr_t* base) {
  void* probe = raw::mmap(nullptr, size + align, PROT_NONE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (probe == MAP_FAILED) return -errno;
  std::uintptr_t p = reinterpret_cast<std::uintptr_t>(probe);
  std::uintptr_t at = (p + align - 1) & ~(std::uintptr_t{align} - 1);
  // MAP_FIXED over our own fresh probe mapping: nothing else can be there.
  void* got = raw::mmap(reinterpret_cast<void*>(at), size, PROT_NONE,
                        MAP_SHARED | MAP_NORESERVE | MAP_FIXED, fd, 0);
  if (got == MAP_FAILED) {
    int e = errno;
    raw::munmap(probe, size + align);
    return -e;
  }
  if (at > p) raw::munmap(probe, at - p);
  if (p + size + align > at + size) raw::munmap(reinterpret_cast<void*>(at + size), p + size + align - (at + size));
  *base = at;
  return 0;
}

}  // namespace

int window_create(std::size_t size, std::uintptr_t preferred_base, std::size_t align,
                  Window* out, const char** why) {
  int fd = memfd_create(abi::kWindowMemfdName, MFD_CLOEXEC);
  if (fd < 0) { *why = "memfd_create"; return -errno; }
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    int e = errno;
    close(fd);
    *why = "ftruncate";
    return -e;
  }
  // The preferred base; else other bases in the wide empty middle of the
  // x86-64 user address space (clear of the kernel's top-down mmap area, so
  // likely free in the worker too); only then any hole the kernel offers.
  static const std::uintptr_t kFallbacks[] = {0x200000000000ull, 0x280000000000ull,
                                              0x300000000000ull, 0x380000000000ull,
                                              0x100000000000ull};
  std::uintptr_t base = preferred_base;
  int r = preferred_base != 0 ? reserve_at(fd, preferred_base, size) : -EEXIST;
  for (std::uintptr_t b : kFallbacks) {
    if (r == 0) break;
    base = b;
    r = reserve_at(fd, b, size);
  }
  if (r != 0) r = reserve_anywhere(fd, size, align, &base);
  if (r != 0) {
    close(fd);
    *why = "reserving the address range";
    return r;
  }
  // Out of core dumps until handed out (window_mapper.cc set_dump).
  raw::madvise(reinterpret_cast<void*>(base), size, MADV_DONTDUMP);
  *out = Window{fd, base, size};
  return 0;
}

int window_attach(int fd, std::uintptr_t base, std::size_t size, Window* out) {
  void* p = raw::mmap(reinterpret_cast<void*>(base), size, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_NORESERVE | MAP_FIXED_NOREPLACE, fd, 0);
  if (p == MAP_FAILED) return -errno;
  if (reinterpret_cast<std::uintptr_t>(p) != base) {
    raw::munmap(p, size);
    return -EEXIST;
  }
  // A worker's core holds its own memory, not the VM's (worker/main.cc
  // marks its serving threads' stacks for dumping).
  raw::madvise(p, size, MADV_DONTDUMP);
  *out = Window{fd, base, size};
  return 0;
}

void window_destroy(Window* w) {
  if (w->size != 0) raw::munmap(reinterpret_cast<void*>(w->base), w->size);
  if (w->fd >= 0) close(w->fd);
  *w = Window{};
}

int window_discard(const Window& w, std::uintptr_t addr, std::size_t len) {
  if (!w.contains(addr, len)) return -EINVAL;
  if (fallocate(w.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                static_cast<off_t>(addr - w.base), static_cast<off_t>(len)) != 0)
    return -errno;
  return 0;
}

std::size_t parse_size(const char* text) {
  if (text == nullptr || *text == '\0') return 0;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text, &end, 0);
  if (errno != 0 || end == text) return 0;
  unsigned shift = 0;
  switch (*end) {
    case '\0': break;
    case 'k': case 'K': shift = 10; ++end; break;
    case 'm': case 'M': shift = 20; ++end; break;
    case 'g': case 'G': shift = 30; ++end; break;
    case 't': case 'T': shift = 40; ++end; break;
    default: return 0;
  }
  if (*end == 'i' || *end == 'B') ++end;  // accept "64GiB", "64GB", "64Gi"
  if (*end == 'B') ++end;
  if (*end != '\0') return 0;
  if (shift != 0 && v > (~0ull >> shift)) return 0;
  return static_cast<std::size_t>(v << shift);
}

}  // namespace nifshim
