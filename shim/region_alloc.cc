// Free-extent bookkeeping for the window; see region_alloc.h.
#include "region_alloc.h"

#include <cstring>

namespace nifshim {

RegionAllocator::RegionAllocator(std::uintptr_t base, std::size_t size, Extent* storage,
                                 std::size_t capacity)
    : base_(base), size_(size), ext_(storage), cap_(capacity) {
  if (cap_ > 0 && size_ > 0) ext_[count_++] = Extent{base_, size_};
}

bool RegionAllocator::contains(std::uintptr_t addr, std::size_t len) const {
  return addr >= base_ && len <= size_ && addr - base_ <= size_ - len;
}

bool RegionAllocator::overlaps(std::uintptr_t addr, std::size_t len) const {
  return len > 0 && addr < base_ + size_ && addr + len > base_;
}

std::size_t RegionAllocator::first_reaching(std::uintptr_t addr) const {
  std::size_t lo = 0, hi = count_;
  while (lo < hi) {
    std::size_t mid = lo + (hi - lo) / 2;
    if (ext_[mid].end() < addr) lo = mid + 1; else hi = mid;
  }
  return lo;
}

bool RegionAllocator::splice(std::size_t i, std::size_t j, const Extent* with, std::size_t n) {
  std::size_t removed = j - i;
  if (count_ - removed + n > cap_) return false;
  if (n != removed)
    std::memmove(ext_ + i + n, ext_ + j, (count_ - j) * sizeof(Extent));
  for (std::size_t k = 0; k < n; ++k) ext_[i + k] = with[k];
  count_ = count_ - removed + n;
  return true;
}

std::uintptr_t RegionAllocator::allocate(std::size_t len, std::size_t align) {
  if (len == 0 || align == 0 || (align & (align - 1)) != 0) return 0;
  for (std::size_t i = 0; i < count_; ++i) {
    const Extent e = ext_[i];
    std::uintptr_t at = (e.start + align - 1) & ~(std::uintptr_t{align} - 1);
    if (at < e.start || at >= e.end() || e.end() - at < len) continue;
    return claim(at, len) ? at : 0;
  }
  return 0;
}

bool RegionAllocator::claim(std::uintptr_t addr, std::size_t len) {
  if (len == 0) return true;
  if (!contains(addr, len)) return false;
  const std::uintptr_t lo = addr, hi = addr + len;
  std::size_t i = first_reaching(lo);
  if (i < count_ && ext_[i].end() == lo) ++i;  // touching on the left only
  std::size_t j = i;
  while (j < count_ && ext_[j].start < hi) ++j;  // [i, j) overlap [lo, hi)
  if (i == j) return true;                        // already fully in use
  Extent keep[2];
  std::size_t n = 0;
  if (ext_[i].start < lo) keep[n++] = Extent{ext_[i].start, lo - ext_[i].start};
  if (ext_[j - 1].end() > hi) keep[n++] = Extent{hi, ext_[j - 1].end() - hi};
  return splice(i, j, keep, n);
}

bool RegionAllocator::release(std::uintptr_t addr, std::size_t len) {
  if (len == 0) return true;
  if (!contains(addr, len)) return false;
  std::uintptr_t lo = addr, hi = addr + len;
  std::size_t i = first_reaching(lo);  // first extent overlapping or touching
  std::size_t j = i;
  while (j < count_ && ext_[j].start <= hi) ++j;
  if (i < j) {
    if (ext_[i].start < lo) lo = ext_[i].start;
    if (ext_[j - 1].end() > hi) hi = ext_[j - 1].end();
  }
  Extent merged{lo, hi - lo};
  return splice(i, j, &merged, 1);
}

bool RegionAllocator::is_free(std::uintptr_t addr, std::size_t len) const {
  if (!contains(addr, len)) return false;
  std::size_t i = first_reaching(addr);
  if (i < count_ && ext_[i].end() == addr && len > 0) ++i;
  return i < count_ && ext_[i].start <= addr && ext_[i].end() >= addr + len;
}

std::size_t RegionAllocator::free_bytes() const {
  std::size_t sum = 0;
  for (std::size_t i = 0; i < count_; ++i) sum += ext_[i].len;
  return sum;
}

std::size_t RegionAllocator::largest_free() const {
  std::size_t best = 0;
  for (std::size_t i = 0; i < count_; ++i)
    if (ext_[i].len > best) best = ext_[i].len;
  return best;
}

bool RegionAllocator::is_valid() const {
  if (count_ > cap_) return false;
  for (std::size_t i = 0; i < count_; ++i) {
    const Extent& e = ext_[i];
    if (e.len == 0 || !contains(e.start, e.len)) return false;
    if (i > 0 && ext_[i - 1].end() >= e.start) return false;  // overlap or unmerged
  }
  return true;
}

}  // namespace nifshim
