// Free ranges of the window whose pages are kept instead of punched at once.
//
// When the VM unmaps window memory, its pages would have to be punched out of
// the memfd (~0.27 us a page) and faulted in fresh by the next user (~1.75 us
// a page for shared memory, against 1.33 us for private memory). Kept, the
// next mapping that lands on them only zeroes the resident ones (~0.4 us a
// page), which is cheaper than the native fault. The set is bounded: at most
// `max_bytes` are kept (the oldest ranges go first), and the owner hands back
// ranges older than its age limit through expire().
//
// Pure bookkeeping, like RegionAllocator: a sorted array of extents in storage
// the caller provides, no syscalls, no malloc; not thread-safe. Every range
// the set gives up goes to a RangeFn, which punches its pages.
#pragma once

#include <cstddef>
#include <cstdint>

namespace nifshim {

struct KeptRange {
  std::uintptr_t start;
  std::size_t len;
  std::uint64_t since_ns;  // the oldest unmap merged into it (CLOCK_MONOTONIC)
  std::uintptr_t end() const { return start + len; }
};

using RangeFn = void (*)(void* ctx, std::uintptr_t start, std::size_t len);

class KeptPages {
 public:
  // `storage` (not owned) holds up to `capacity` ranges.
  KeptPages(KeptRange* storage, std::size_t capacity, std::size_t max_bytes)
      : r_(storage), cap_(capacity), max_bytes_(max_bytes) {}
  KeptPages(const KeptPages&) = delete;
  KeptPages& operator=(const KeptPages&) = delete;

  // Keeps [start, start+len) from `now_ns`, merged with ranges it overlaps or
  // touches. What cannot be kept within the bounds (the oldest ranges first;
  // the new range itself when it alone is over the bound, or the set is
  // full) goes to `drop`.
  void add(std::uintptr_t start, std::size_t len, std::uint64_t now_ns, RangeFn drop, void* ctx);

  // Stops keeping [start, start+len): each kept part of it goes to `hit`
  // (the caller zeroes or punches it). Parts not kept are skipped. A kept
  // range split in two when the set is full loses its upper part to `drop`.
  void take(std::uintptr_t start, std::size_t len, RangeFn hit, RangeFn drop, void* ctx);

  // Gives every range kept since `cutoff_ns` or earlier to `drop`; returns
  // the bytes given.
  std::size_t expire(std::uint64_t cutoff_ns, RangeFn drop, void* ctx);

  std::size_t bytes() const { return bytes_; }
  std::size_t count() const { return count_; }
  std::size_t max_bytes() const { return max_bytes_; }
  void set_max_bytes(std::size_t n) { max_bytes_ = n; }  // takes effect at the next add()
  const KeptRange& at(std::size_t i) const { return r_[i]; }
  bool is_valid() const;  // sorted, disjoint, not touching, sum == bytes()

 private:
  std::size_t first_reaching(std::uintptr_t addr) const;  // first with end() >= addr
  void erase(std::size_t i);

  KeptRange* r_;
  std::size_t cap_;
  std::size_t count_ = 0;
  std::size_t bytes_ = 0;
  std::size_t max_bytes_;
};

}  // namespace nifshim
