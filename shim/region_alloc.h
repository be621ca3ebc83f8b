// Address-range allocator for the window: which parts of [base, base+size)
// are free. Pure bookkeeping (no syscalls, no malloc): the free extents live
// in a sorted array the caller provides, so it is safe to use inside the
// interposed mmap family. Not thread-safe; the caller serialises.
#pragma once

#include <cstddef>
#include <cstdint>

namespace nifshim {

struct Extent {
  std::uintptr_t start;
  std::size_t len;
  std::uintptr_t end() const { return start + len; }
};

class RegionAllocator {
 public:
  // `storage` (not owned) holds up to `capacity` free extents.
  RegionAllocator(std::uintptr_t base, std::size_t size, Extent* storage, std::size_t capacity);
  RegionAllocator(const RegionAllocator&) = delete;
  RegionAllocator& operator=(const RegionAllocator&) = delete;

  // Lowest free range of `len` bytes starting on a multiple of `align`
  // (a power of two). Returns 0 when no free range fits (or the bookkeeping
  // is full).
  std::uintptr_t allocate(std::size_t len, std::size_t align);

  // Mark [addr, addr+len) in use; parts already in use are fine.
  // false: the range leaves the region, or the bookkeeping is full.
  bool claim(std::uintptr_t addr, std::size_t len);

  // Mark [addr, addr+len) free, merging with neighbours; parts already free
  // are fine. false: the range leaves the region, or the bookkeeping is full.
  bool release(std::uintptr_t addr, std::size_t len);

  bool contains(std::uintptr_t addr, std::size_t len) const;
  bool overlaps(std::uintptr_t addr, std::size_t len) const;
  bool is_free(std::uintptr_t addr, std::size_t len) const;

  std::uintptr_t base() const { return base_; }
  std::size_t size() const { return size_; }
  std::size_t free_bytes() const;
  std::size_t largest_free() const;
  std::size_t extent_count() const { return count_; }
  const Extent& extent(std::size_t i) const { return ext_[i]; }  // i-th free extent, ascending

  // Expensive: sorted, disjoint, non-adjacent, non-empty, inside the region.
  bool is_valid() const;

 private:
  // Index of the first extent whose end is >= addr (may touch addr).
  std::size_t first_reaching(std::uintptr_t addr) const;
  // Replace extents [i, j) with the `n` extents in `with`.
  bool splice(std::size_t i, std::size_t j, const Extent* with, std::size_t n);

  std::uintptr_t base_;
  std::size_t size_;
  Extent* ext_;  // not owned
  std::size_t cap_;
  std::size_t count_ = 0;
};

}  // namespace nifshim
