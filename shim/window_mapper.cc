// mmap semantics inside the window; see window_mapper.h.
#include "window_mapper.h"

#include <cerrno>
#include <cstring>
#include <new>
#include <sys/mman.h>

#include "log.h"
#include "raw_syscalls.h"
#include "window_abi.h"

namespace nifshim {
namespace {

constexpr std::size_t kMaxExtents = std::size_t{1} << 20;  // 16 MiB of bookkeeping, touched lazily
constexpr std::size_t kPage = abi::kPageSize;

std::size_t page_round(std::size_t len) { return (len + kPage - 1) & ~(kPage - 1); }
bool page_aligned(std::uintptr_t a) { return (a & (kPage - 1)) == 0; }
void* as_ptr(std::uintptr_t a) { return reinterpret_cast<void*>(a); }
std::uintptr_t as_addr(void* p) { return reinterpret_cast<std::uintptr_t>(p); }

void* fail(int e) { errno = e; return MAP_FAILED; }
int fail_int(int e) { errno = e; return -1; }

}  // namespace

std::size_t window_alignment_for(std::size_t len) {
  return len >= abi::kCarrierAlign ? abi::kCarrierAlign : kPage;
}

WindowMapper::WindowMapper(const Window& w) : w_(w) {
  bookkeeping_len_ = sizeof(RegionAllocator) + kMaxExtents * sizeof(Extent);
  void* mem = raw::mmap(nullptr, bookkeeping_len_, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) {
    log_error("cannot map %zu bytes of window bookkeeping: %s", bookkeeping_len_, strerror(errno));
    return;
  }
  bookkeeping_ = mem;
  auto* extents = reinterpret_cast<Extent*>(static_cast<char*>(mem) + sizeof(RegionAllocator));
  alloc_ = new (mem) RegionAllocator(w_.base, w_.size, extents, kMaxExtents);
}

WindowMapper::~WindowMapper() {
  if (alloc_ != nullptr) alloc_->~RegionAllocator();
  if (bookkeeping_ != nullptr) raw::munmap(bookkeeping_, bookkeeping_len_);
}

void* WindowMapper::fail_exhausted(std::size_t len) {
  // Called with mu_ held.
  log_error("window exhausted: no free range of %zu bytes in the window at %#lx (%zu bytes, "
            "%zu free, largest hole %zu, %zu extents); the caller gets ENOMEM. "
            "Raise %s (now %zu).",
            len, static_cast<unsigned long>(w_.base), w_.size, alloc_->free_bytes(),
            alloc_->largest_free(), alloc_->extent_count(), abi::kEnvWindowSize, w_.size);
  return fail(ENOMEM);
}

void* WindowMapper::map(std::size_t len, int prot, int flags) {
  if (len == 0) return fail(EINVAL);
  len = page_round(len);
  void* p = map_aligned(len, window_alignment_for(len), prot);
  if (p != MAP_FAILED && (flags & MAP_POPULATE) && (prot & PROT_WRITE))
    raw::madvise(p, len, MADV_POPULATE_WRITE);  // best effort, as MAP_POPULATE is
  return p;
}

void* WindowMapper::map_aligned(std::size_t len, std::size_t align, int prot) {
  if (len == 0 || align < kPage || (align & (align - 1)) != 0) return fail(EINVAL);
  len = page_round(len);
  std::uintptr_t a;
  {
    std::lock_guard<std::mutex> g(mu_);
    a = alloc_->allocate(len, align);
    if (a == 0) return fail_exhausted(len);
  }
  // The range was free: PROT_NONE and without pages, so it reads as zero.
  if (prot != PROT_NONE && raw::mprotect(as_ptr(a), len, prot) != 0) {
    int e = errno;
    std::lock_guard<std::mutex> g(mu_);
    alloc_->release(a, len);
    return fail(e);
  }
  return as_ptr(a);
}

void* WindowMapper::map_fixed(void* addr, std::size_t len, int prot, int flags) {
  std::uintptr_t a = as_addr(addr);
  if (len == 0 || !page_aligned(a)) return fail(EINVAL);
  len = page_round(len);
  if (!w_.contains(a, len)) return fail(EINVAL);
  {
    std::lock_guard<std::mutex> g(mu_);
    if ((flags & MAP_FIXED_NOREPLACE) && !(flags & MAP_FIXED) && !alloc_->is_free(a, len))
      return fail(EEXIST);
    if (!alloc_->claim(a, len)) return fail_exhausted(len);
  }
  // A fixed mapping replaces whatever was there with fresh zero pages.
  int r = window_discard(w_, a, len);
  if (r != 0) return fail(-r);
  if (raw::mprotect(addr, len, prot) != 0) return MAP_FAILED;
  return addr;
}

int WindowMapper::release_locked(std::uintptr_t a, std::size_t len) {
  // The order matters: no access, then no pages, then free for reuse, so the
  // next user of the range finds zero pages and a stale user faults.
  if (raw::mprotect(as_ptr(a), len, PROT_NONE) != 0) return -1;
  int r = window_discard(w_, a, len);
  if (r != 0) return fail_int(-r);
  if (!alloc_->release(a, len)) {
    log_error("window bookkeeping full while releasing %zu bytes at %#lx", len,
              static_cast<unsigned long>(a));
    return fail_int(ENOMEM);
  }
  return 0;
}

int WindowMapper::unmap(void* addr, std::size_t len) {
  std::uintptr_t a = as_addr(addr);
  if (len == 0 || !page_aligned(a)) return fail_int(EINVAL);
  len = page_round(len);
  if (!w_.contains(a, len)) return fail_int(EINVAL);
  std::lock_guard<std::mutex> g(mu_);
  return release_locked(a, len);
}

void* WindowMapper::remap(void* old, std::size_t old_len, std::size_t new_len, int flags,
                          void* new_addr) {
  std::uintptr_t o = as_addr(old);
  if (!page_aligned(o) || new_len == 0 || old_len == 0) return fail(EINVAL);
  if (flags & ~(MREMAP_MAYMOVE | MREMAP_FIXED)) {
    log_error("mremap flags %#x on the window are not supported (only MAYMOVE and FIXED)", flags);
    return fail(EINVAL);
  }
  old_len = page_round(old_len);
  new_len = page_round(new_len);
  if (!w_.contains(o, old_len)) return fail(EINVAL);

  if (flags & MREMAP_FIXED) {
    std::uintptr_t n = as_addr(new_addr);
    if (!(flags & MREMAP_MAYMOVE) || !page_aligned(n)) return fail(EINVAL);
    if (!w_.contains(n, new_len)) {
      log_error("mremap of window memory to %#lx outside the window is not supported",
                static_cast<unsigned long>(n));
      return fail(EINVAL);
    }
    if (n < o + old_len && o < n + new_len) return fail(EINVAL);  // overlapping, as the kernel
    if (map_fixed(new_addr, new_len, PROT_READ | PROT_WRITE, MAP_FIXED) == MAP_FAILED)
      return MAP_FAILED;
    std::memcpy(new_addr, old, old_len < new_len ? old_len : new_len);
    unmap(old, old_len);
    return new_addr;
  }

  if (new_len <= old_len) {
    if (new_len < old_len && unmap(as_ptr(o + new_len), old_len - new_len) != 0) return MAP_FAILED;
    return old;
  }

  // Grow in place when the pages after the mapping are free. mremap keeps the
  // old protection; ERTS only resizes read-write carriers, so the new tail is
  // read-write.
  const std::size_t grow = new_len - old_len;
  bool in_place;
  {
    std::lock_guard<std::mutex> g(mu_);
    in_place = w_.contains(o + old_len, grow) && alloc_->is_free(o + old_len, grow) &&
               alloc_->claim(o + old_len, grow);
  }
  if (in_place) {
    if (raw::mprotect(as_ptr(o + old_len), grow, PROT_READ | PROT_WRITE) != 0) return MAP_FAILED;
    return old;
  }
  if (!(flags & MREMAP_MAYMOVE)) return fail(ENOMEM);

  // Move: the address must stay base + offset, so the bytes are copied.
  void* n = map(new_len, PROT_READ | PROT_WRITE, 0);
  if (n == MAP_FAILED) return MAP_FAILED;
  std::memcpy(n, old, old_len);
  unmap(old, old_len);
  return n;
}

int WindowMapper::advise(void* addr, std::size_t len, int advice) {
  std::uintptr_t a = as_addr(addr);
  if (!page_aligned(a)) return fail_int(EINVAL);
  len = page_round(len);
  if (!w_.contains(a, len)) return fail_int(EINVAL);
  switch (advice) {
    case MADV_DONTNEED:
    case MADV_FREE:
    case MADV_REMOVE: {
      // Private-mapping semantics: the pages go back to the system and read
      // as zero afterwards. On a shared mapping only a hole punch does that
      // (MADV_FREE would fail with EINVAL, DONTNEED would keep the data).
      int r = window_discard(w_, a, len);
      return r == 0 ? 0 : fail_int(-r);
    }
    default:
      return raw::madvise(addr, len, advice);
  }
}

std::size_t WindowMapper::free_bytes() {
  std::lock_guard<std::mutex> g(mu_);
  return alloc_->free_bytes();
}

std::size_t WindowMapper::largest_free() {
  std::lock_guard<std::mutex> g(mu_);
  return alloc_->largest_free();
}

bool WindowMapper::is_valid() {
  std::lock_guard<std::mutex> g(mu_);
  return alloc_->is_valid();
}

}  // namespace nifshim
