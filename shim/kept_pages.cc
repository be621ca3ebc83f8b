// Kept free ranges of the window; see kept_pages.h.
#include "kept_pages.h"

#include <cstring>

namespace nifshim {

std::size_t KeptPages::first_reaching(std::uintptr_t addr) const {
  std::size_t lo = 0, hi = count_;
  while (lo < hi) {
    std::size_t mid = lo + (hi - lo) / 2;
    if (r_[mid].end() < addr) lo = mid + 1; else hi = mid;
  }
  return lo;
}

void KeptPages::erase(std::size_t i) {
  bytes_ -= r_[i].len;
  std::memmove(r_ + i, r_ + i + 1, (count_ - i - 1) * sizeof(KeptRange));
  --count_;
}

void KeptPages::add(std::uintptr_t start, std::size_t len, std::uint64_t now_ns, RangeFn drop,
                    void* ctx) {
  if (len == 0) return;
  if (len > max_bytes_ || cap_ == 0) { drop(ctx, start, len); return; }
  std::uintptr_t lo = start, hi = start + len;
  std::uint64_t since = now_ns;
  // Merge every range overlapping or touching [lo, hi).
  std::size_t i = first_reaching(lo);
  while (i < count_ && r_[i].start <= hi) {
    if (r_[i].start < lo) lo = r_[i].start;
    if (r_[i].end() > hi) hi = r_[i].end();
    if (r_[i].since_ns < since) since = r_[i].since_ns;
    erase(i);
  }
  if (hi - lo > max_bytes_) { drop(ctx, lo, hi - lo); return; }
  // Make room: the oldest ranges go first.
  while (count_ > 0 && (bytes_ + (hi - lo) > max_bytes_ || count_ == cap_)) {
    std::size_t old = 0;
    for (std::size_t k = 1; k < count_; ++k)
      if (r_[k].since_ns < r_[old].since_ns) old = k;
    KeptRange gone = r_[old];
    erase(old);
    if (old < i) --i;
    drop(ctx, gone.start, gone.len);
  }
  std::memmove(r_ + i + 1, r_ + i, (count_ - i) * sizeof(KeptRange));
  r_[i] = KeptRange{lo, hi - lo, since};
  ++count_;
  bytes_ += hi - lo;
}

void KeptPages::take(std::uintptr_t start, std::size_t len, RangeFn hit, RangeFn drop,
                     void* ctx) {
  if (len == 0 || count_ == 0) return;
  const std::uintptr_t lo = start, hi = start + len;
  std::size_t i = first_reaching(lo);
  if (i < count_ && r_[i].end() == lo) ++i;  // touching on the left only
  while (i < count_ && r_[i].start < hi) {
    KeptRange r = r_[i];
    std::uintptr_t a = r.start < lo ? lo : r.start, b = r.end() > hi ? hi : r.end();
    hit(ctx, a, b - a);
    const bool left = r.start < lo, right = r.end() > hi;
    if (left && right) {
      // Split in two. A full set cannot hold the second part: it goes to
      // `drop`.
      r_[i].len = lo - r.start;
      bytes_ -= r.len - (lo - r.start);
      KeptRange tail{hi, r.end() - hi, r.since_ns};
      if (count_ == cap_) {
        drop(ctx, tail.start, tail.len);
      } else {
        std::memmove(r_ + i + 2, r_ + i + 1, (count_ - i - 1) * sizeof(KeptRange));
        r_[i + 1] = tail;
        ++count_;
        bytes_ += tail.len;
      }
      return;
    }
    if (left) {
      r_[i].len = lo - r.start;
      bytes_ -= r.end() - lo;
      ++i;
    } else if (right) {
      r_[i].start = hi;
      r_[i].len = r.end() - hi;
      bytes_ -= hi - r.start;
      return;
    } else {
      erase(i);
    }
  }
}

std::size_t KeptPages::expire(std::uint64_t cutoff_ns, RangeFn drop, void* ctx) {
  std::size_t given = 0;
  for (std::size_t i = 0; i < count_;) {
    if (r_[i].since_ns > cutoff_ns) { ++i; continue; }
    KeptRange r = r_[i];
    erase(i);
    given += r.len;
    drop(ctx, r.start, r.len);
  }
  return given;
}

bool KeptPages::is_valid() const {
  if (count_ > cap_) return false;
  std::size_t sum = 0;
  for (std::size_t i = 0; i < count_; ++i) {
    if (r_[i].len == 0) return false;
    if (i > 0 && r_[i - 1].end() >= r_[i].start) return false;
    sum += r_[i].len;
  }
  return sum == bytes_;
}

}  // namespace nifshim
