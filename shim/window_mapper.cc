// mmap semantics inside the window; see window_mapper.h.
#include "window_mapper.h"

#include <cerrno>
#include <cstring>
#include <csignal>
#include <new>
#include <sys/mman.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "raw_syscalls.h"
#include "window_abi.h"

namespace nifshim {
namespace {

constexpr std::size_t kMaxExtents = std::size_t{1} << 20;  // 16 MiB of bookkeeping, touched lazily
constexpr std::size_t kMaxKept = 4096;                     // kept ranges; merged when adjacent
constexpr std::size_t kPage = abi::kPageSize;

std::size_t page_round(std::size_t len) { return (len + kPage - 1) & ~(kPage - 1); }
bool page_aligned(std::uintptr_t a) { return (a & (kPage - 1)) == 0; }
void* as_ptr(std::uintptr_t a) { return reinterpret_cast<void*>(a); }
std::uintptr_t as_addr(void* p) { return reinterpret_cast<std::uintptr_t>(p); }

void* fail(int e) { errno = e; return MAP_FAILED; }
int fail_int(int e) { errno = e; return -1; }

// Pages of a shared memfd can sit in swap, where mincore() does not see them.
bool system_has_swap() {
  struct sysinfo si;
  return sysinfo(&si) != 0 || si.totalswap != 0;
}

void ignore_range(void*, std::uintptr_t, std::size_t) {}

// Core dumps: a MAP_SHARED memfd mapping is dumped whole (the kernel's
// ANON_SHARED filter bit), even PROT_NONE, and reading its holes to write
// the core allocates their pages. So the window is reserved MADV_DONTDUMP
// (window.cc) and only what the VM holds is marked for dumping: a range is
// DODUMP from the moment it is handed out until it is released (free and
// kept ranges hold no VM memory). The flag changes where the protection
// changes anyway, so the vmas split at no new boundaries, except kept
// ranges, which stay read-write beside mappings in use. A PROT_NONE mapping
// (a reservation: the literal area's 1 GiB) stays out; the parts committed
// with MAP_FIXED come in. mprotect is not interposed: memory a reservation
// gained by mprotect alone would be missing from a core.
void set_dump(std::uintptr_t a, std::size_t len, bool dump) {
  raw::madvise(as_ptr(a), len, dump ? MADV_DODUMP : MADV_DONTDUMP);
}

}  // namespace

std::uint64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

// Kept parts of a range being handed out, zeroed after the lock is dropped.
struct WindowMapper::Pieces {
  static constexpr int kMax = 16;
  Pieces(WindowMapper* m, bool w) : self(m), writable(w) {}
  WindowMapper* self;
  bool writable;  // the new mapping can be written: zero later; else punch now
  int n = 0;
  Extent p[kMax];
};

std::size_t window_alignment_for(std::size_t len) {
  return len >= abi::kCarrierAlign ? abi::kCarrierAlign : kPage;
}

WindowMapper::WindowMapper(const Window& w, std::size_t keep_max) : w_(w) {
  bookkeeping_len_ =
      sizeof(RegionAllocator) + kMaxExtents * sizeof(Extent) + sizeof(KeptPages) + kMaxKept * sizeof(KeptRange);
  void* mem = raw::mmap(nullptr, bookkeeping_len_, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) {
    log_error("cannot map %zu bytes of window bookkeeping: %s", bookkeeping_len_, strerror(errno));
    return;
  }
  bookkeeping_ = mem;
  char* at = static_cast<char*>(mem);
  auto* extents = reinterpret_cast<Extent*>(at + sizeof(RegionAllocator));
  at += sizeof(RegionAllocator) + kMaxExtents * sizeof(Extent);
  auto* kept = reinterpret_cast<KeptRange*>(at + sizeof(KeptPages));
  kept_ = new (at) KeptPages(kept, kMaxKept, keep_max);
  alloc_ = new (mem) RegionAllocator(w_.base, w_.size, extents, kMaxExtents);
}

WindowMapper::~WindowMapper() {
  if (releaser_running_) {
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_ = true;
      cv_.notify_one();
    }
    pthread_join(releaser_, nullptr);
  }
  if (kept_ != nullptr) kept_->~KeptPages();
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
  Pieces kept{this, (prot & PROT_WRITE) != 0};
  {
    std::lock_guard<std::mutex> g(mu_);
    ++stats_.maps;
    a = alloc_->allocate(len, align);
    if (a == 0) return fail_exhausted(len);
    take_kept_locked(a, len, &kept);
  }
  // The range was free: PROT_NONE and without pages, or kept (read-write).
  if ((prot != PROT_NONE && raw::mprotect(as_ptr(a), len, prot) != 0) || zero_pieces(kept) != 0) {
    int e = errno;
    std::lock_guard<std::mutex> g(mu_);
    release_locked(a, len);
    return fail(e);
  }
  if (prot != PROT_NONE) set_dump(a, len, true);
  return as_ptr(a);
}

// Called with mu_ held: [a, a+len) was just claimed. Its kept parts leave the
// kept set; they are zeroed after the lock is dropped when the new mapping
// is writable (and there is room to note them), punched now otherwise.
void WindowMapper::take_kept_locked(std::uintptr_t a, std::size_t len, Pieces* zero_later) {
  if (kept_->count() == 0) return;
  kept_->take(
      a, len,
      [](void* ctx, std::uintptr_t s, std::size_t l) {
        auto* pc = static_cast<Pieces*>(ctx);
        pc->self->stats_.reused_bytes += l;
        if (pc->writable && pc->n < Pieces::kMax)
          pc->p[pc->n++] = Extent{s, l};
        else
          punch(pc->self, s, l);
      },
      [](void* ctx, std::uintptr_t s, std::size_t l) { punch(static_cast<Pieces*>(ctx)->self, s, l); },
      zero_later);
}

int WindowMapper::zero_pieces(const Pieces& pc) {
  for (int i = 0; i < pc.n; ++i)
    if (zero_resident(pc.p[i].start, pc.p[i].len) != 0) return -1;
  return 0;
}

// Zeroes the resident pages of [a, a+len) (writable, ours): memset costs
// less than the shared-memory fault a punched page costs on its next touch.
// Pages not resident are holes, or in swap, where they are punched.
int WindowMapper::zero_resident(std::uintptr_t a, std::size_t len) {
  constexpr std::size_t kChunk = 1024;  // pages per mincore() call
  unsigned char vec[kChunk];
  const bool swap = system_has_swap();
  std::uint64_t zeroed = 0;
  for (std::size_t off = 0; off < len;) {
    std::size_t pages = (len - off) / kPage;
    if (pages > kChunk) pages = kChunk;
    if (mincore(as_ptr(a + off), pages * kPage, vec) != 0) return -1;
    for (std::size_t i = 0; i < pages;) {
      const bool resident = vec[i] & 1;
      std::size_t j = i + 1;
      while (j < pages && (vec[j] & 1) == resident) ++j;
      const std::uintptr_t run = a + off + i * kPage;
      if (resident) {
        std::memset(as_ptr(run), 0, (j - i) * kPage);
        zeroed += j - i;
      } else if (swap) {
        int r = window_discard(w_, run, (j - i) * kPage);
        if (r != 0) return fail_int(-r);
      }
      i = j;
    }
    off += pages * kPage;
  }
  zeroed_pages_.fetch_add(zeroed, std::memory_order_relaxed);
  return 0;
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
    if (kept_->count() > 0)  // the whole range is punched below anyway
      kept_->take(a, len, ignore_range, punch, this);
  }
  // A fixed mapping replaces whatever was there with fresh zero pages.
  int r = window_discard(w_, a, len);
  if (r != 0) return fail(-r);
  if (raw::mprotect(addr, len, prot) != 0) return MAP_FAILED;
  if (prot != PROT_NONE) set_dump(a, len, true);
  return addr;
}

int WindowMapper::release_locked(std::uintptr_t a, std::size_t len) {
  // The order matters: no access, then no pages, then free for reuse, so the
  // next user of the range finds zero pages and a stale user faults. Kept
  // pages stay mapped read-write instead (their next user zeroes them): a
  // page table change costs a fault per page at the next touch, ~4.6 us on a
  // paravirtualized host, where a memset of a mapped page costs 0.2 us. The
  // VM's own allocators keep freed memory mapped the same way (ERTS's
  // segment cache). They lose access when they are punched (punch()).
  const bool keep = kept_->max_bytes() != 0;
  if (raw::mprotect(as_ptr(a), len, keep ? PROT_READ | PROT_WRITE : PROT_NONE) != 0) return -1;
  set_dump(a, len, false);
  stats_.freed_bytes += len;
  if (kept_->max_bytes() == 0) {
    int r = window_discard(w_, a, len);
    if (r != 0) return fail_int(-r);
    stats_.punched_bytes += len;
  }
  if (!alloc_->release(a, len)) {
    log_error("window bookkeeping full while releasing %zu bytes at %#lx", len,
              static_cast<unsigned long>(a));
    if (kept_->max_bytes() != 0) punch(this, a, len);
    return fail_int(ENOMEM);
  }
  if (kept_->max_bytes() != 0) {
    const bool was_empty = kept_->count() == 0;
    kept_->add(a, len, monotonic_ns(), punch, this);
    if (was_empty && kept_->count() > 0 && releaser_running_) cv_.notify_one();
  }
  return 0;
}

// A RangeFn, called with mu_ held: the kept range's pages go back.
void WindowMapper::punch(void* self, std::uintptr_t a, std::size_t len) {
  auto* m = static_cast<WindowMapper*>(self);
  raw::mprotect(as_ptr(a), len, PROT_NONE);  // a free range without pages has no access
  int r = window_discard(m->w_, a, len);
  if (r == 0) {
    m->stats_.punched_bytes += len;
    return;
  }
  // Its old data would show through in the next mapping: never hand it out.
  log_error("cannot punch %zu bytes at %#lx out of the window: %s; the range is not used again",
            len, static_cast<unsigned long>(a), strerror(-r));
  m->alloc_->claim(a, len);
}

int WindowMapper::unmap(void* addr, std::size_t len) {
  std::uintptr_t a = as_addr(addr);
  if (len == 0 || !page_aligned(a)) return fail_int(EINVAL);
  len = page_round(len);
  if (!w_.contains(a, len)) return fail_int(EINVAL);
  std::lock_guard<std::mutex> g(mu_);
  ++stats_.unmaps;
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
    count_move(old_len < new_len ? old_len : new_len);
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
  Pieces kept{this, true};
  {
    std::lock_guard<std::mutex> g(mu_);
    in_place = w_.contains(o + old_len, grow) && alloc_->is_free(o + old_len, grow) &&
               alloc_->claim(o + old_len, grow);
    if (in_place) {
      ++stats_.grown_in_place;
      take_kept_locked(o + old_len, grow, &kept);
    }
  }
  if (in_place) {
    if (raw::mprotect(as_ptr(o + old_len), grow, PROT_READ | PROT_WRITE) != 0 ||
        zero_pieces(kept) != 0) {
      int e = errno;
      std::lock_guard<std::mutex> g(mu_);
      release_locked(o + old_len, grow);
      return fail(e);
    }
    set_dump(o + old_len, grow, true);
    return old;
  }
  if (!(flags & MREMAP_MAYMOVE)) return fail(ENOMEM);

  // Move: the address must stay base + offset, so the bytes are copied.
  void* n = map(new_len, PROT_READ | PROT_WRITE, 0);
  if (n == MAP_FAILED) return MAP_FAILED;
  std::memcpy(n, old, old_len);
  count_move(old_len);
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
  if (!alloc_->is_valid() || !kept_->is_valid()) return false;
  for (std::size_t i = 0; i < kept_->count(); ++i)  // kept pages are free ones
    if (!alloc_->is_free(kept_->at(i).start, kept_->at(i).len)) return false;
  return true;
}

std::size_t WindowMapper::kept_bytes() {
  std::lock_guard<std::mutex> g(mu_);
  return kept_->bytes();
}

namespace {
// Bytes of memfd data (pages, in memory or swap) in [lo, hi) of the file.
std::size_t data_bytes(int fd, off_t lo, off_t hi) {
  std::size_t n = 0;
  while (lo < hi) {
    off_t data = lseek(fd, lo, SEEK_DATA);
    if (data < 0 || data >= hi) break;  // ENXIO: no data after `lo`
    off_t hole = lseek(fd, data, SEEK_HOLE);
    if (hole < 0 || hole > hi) hole = hi;
    n += static_cast<std::size_t>(hole - data);
    lo = hole;
  }
  return n;
}
}  // namespace

std::size_t WindowMapper::resident_bytes() {
  return data_bytes(w_.fd, 0, static_cast<off_t>(w_.size));
}

std::size_t WindowMapper::free_resident_bytes() {
  std::lock_guard<std::mutex> g(mu_);
  std::size_t n = 0;
  for (std::size_t i = 0; i < alloc_->extent_count(); ++i) {
    const Extent& e = alloc_->extent(i);
    n += data_bytes(w_.fd, static_cast<off_t>(e.start - w_.base), static_cast<off_t>(e.end() - w_.base));
  }
  return n;
}

std::size_t WindowMapper::release_kept(std::uint64_t cutoff_ns) {
  std::lock_guard<std::mutex> g(mu_);
  return kept_->expire(cutoff_ns, punch, this);
}

void WindowMapper::release_loop() {
  const auto period = std::chrono::nanoseconds(max_age_ns_ / 4 + 1);
  std::unique_lock<std::mutex> lk(mu_);
  while (!stop_) {
    if (kept_->count() == 0) {
      cv_.wait(lk);
      continue;
    }
    cv_.wait_for(lk, period);
    const std::uint64_t now = monotonic_ns();
    if (now > max_age_ns_) kept_->expire(now - max_age_ns_, punch, this);
  }
}

void* WindowMapper::releaser_main(void* self) {
  static_cast<WindowMapper*>(self)->release_loop();
  return nullptr;
}

bool WindowMapper::start_releaser(std::uint64_t max_age_ns) {
  if (alloc_ == nullptr || releaser_running_ || kept_->max_bytes() == 0) return false;
  max_age_ns_ = max_age_ns;
  // The VM's signals are not for this thread: it starts with all blocked.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int r = pthread_create(&releaser_, nullptr, releaser_main, this);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (r != 0) {
    log_error("cannot start the thread that returns kept window pages: %s; pages are punched at "
              "once instead", strerror(r));
    std::lock_guard<std::mutex> g(mu_);
    kept_->expire(~std::uint64_t{0}, punch, this);
    kept_->set_max_bytes(0);
    return false;
  }
  pthread_setname_np(releaser_, "nifshim_release");
  releaser_running_ = true;
  return true;
}

void WindowMapper::count_move(std::size_t bytes) {
  std::lock_guard<std::mutex> g(mu_);
  ++stats_.moved;
  stats_.moved_bytes += bytes;
}

WindowMapper::Stats WindowMapper::stats() {
  std::lock_guard<std::mutex> g(mu_);
  Stats s = stats_;
  s.zeroed_pages = zeroed_pages_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace nifshim
