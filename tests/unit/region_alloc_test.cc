// Unit tests of the window's address-range allocator.
#include <doctest/doctest.h>

#include <random>
#include <vector>

#include "region_alloc.h"

using nifshim::Extent;
using nifshim::RegionAllocator;

namespace {
constexpr std::uintptr_t kBase = 0x100000;
constexpr std::size_t kPage = 4096;

struct Fixture {
  std::vector<Extent> storage;
  RegionAllocator ra;
  explicit Fixture(std::size_t pages, std::size_t cap = 1024)
      : storage(cap), ra(kBase, pages * kPage, storage.data(), cap) {}
};
}  // namespace

TEST_CASE("a fresh region is one free extent") {
  Fixture f(16);
  CHECK(f.ra.extent_count() == 1);
  CHECK(f.ra.free_bytes() == 16 * kPage);
  CHECK(f.ra.is_free(kBase, 16 * kPage));
  CHECK(f.ra.is_valid());
}

TEST_CASE("allocation is first fit and honours alignment") {
  Fixture f(1024);
  std::uintptr_t a = f.ra.allocate(kPage, kPage);
  CHECK(a == kBase);
  std::uintptr_t b = f.ra.allocate(3 * kPage, 64 * kPage);
  CHECK(b % (64 * kPage) == 0);
  CHECK(b > a);
  std::uintptr_t c = f.ra.allocate(kPage, kPage);  // fills the gap left by alignment
  CHECK(c == kBase + kPage);
  CHECK(f.ra.is_valid());
  CHECK(f.ra.allocate(kPage, 3 * kPage) == 0);  // not a power of two
  CHECK(f.ra.allocate(0, kPage) == 0);
}

TEST_CASE("freed neighbours coalesce and are reused") {
  Fixture f(8);
  std::uintptr_t a = f.ra.allocate(2 * kPage, kPage);
  std::uintptr_t b = f.ra.allocate(2 * kPage, kPage);
  std::uintptr_t c = f.ra.allocate(2 * kPage, kPage);
  CHECK(f.ra.free_bytes() == 2 * kPage);
  CHECK(f.ra.release(a, 2 * kPage));
  CHECK(f.ra.release(c, 2 * kPage));
  CHECK(f.ra.extent_count() == 2);
  CHECK(f.ra.release(b, 2 * kPage));
  CHECK(f.ra.extent_count() == 1);  // all three merged with the tail
  CHECK(f.ra.free_bytes() == 8 * kPage);
  CHECK(f.ra.allocate(8 * kPage, kPage) == kBase);  // the whole region again
  CHECK(f.ra.is_valid());
}

TEST_CASE("exhaustion returns 0 and leaves the state intact") {
  Fixture f(4);
  CHECK(f.ra.allocate(4 * kPage, kPage) == kBase);
  CHECK(f.ra.allocate(kPage, kPage) == 0);
  CHECK(f.ra.free_bytes() == 0);
  CHECK(f.ra.is_valid());
  CHECK(f.ra.release(kBase + kPage, kPage));
  CHECK(f.ra.allocate(2 * kPage, kPage) == 0);  // fragmented: one page free
  CHECK(f.ra.allocate(kPage, kPage) == kBase + kPage);
}

TEST_CASE("partial release trims the head and tail of a mapping") {
  Fixture f(64);
  // ERTS's map-bigger-and-trim pattern: take 8 pages, give back head and tail.
  std::uintptr_t a = f.ra.allocate(8 * kPage, kPage);
  CHECK(f.ra.release(a, kPage));
  CHECK(f.ra.release(a + 6 * kPage, 2 * kPage));
  CHECK(f.ra.is_free(a, kPage));
  CHECK_FALSE(f.ra.is_free(a + kPage, kPage));
  CHECK(f.ra.is_free(a + 6 * kPage, 58 * kPage));
  CHECK(f.ra.free_bytes() == 59 * kPage);
  CHECK(f.ra.is_valid());
}

TEST_CASE("claim marks fixed ranges in use, idempotently") {
  Fixture f(32);
  CHECK(f.ra.claim(kBase + 4 * kPage, 4 * kPage));
  CHECK(f.ra.extent_count() == 2);
  CHECK(f.ra.claim(kBase + 6 * kPage, 4 * kPage));  // overlaps the first claim
  CHECK_FALSE(f.ra.is_free(kBase + 9 * kPage, kPage));
  CHECK(f.ra.is_free(kBase + 10 * kPage, kPage));
  CHECK(f.ra.free_bytes() == 26 * kPage);
  CHECK(f.ra.release(kBase, 32 * kPage));  // release over free and used parts
  CHECK(f.ra.extent_count() == 1);
  CHECK_FALSE(f.ra.claim(kBase + 31 * kPage, 2 * kPage));  // leaves the region
  CHECK_FALSE(f.ra.release(kBase - kPage, kPage));
  CHECK(f.ra.is_valid());
}

TEST_CASE("full bookkeeping fails an operation without corrupting state") {
  Fixture f(16, 2);
  CHECK(f.ra.claim(kBase + 2 * kPage, kPage));  // splits: 2 extents
  CHECK_FALSE(f.ra.claim(kBase + 8 * kPage, kPage));  // would need 3
  CHECK(f.ra.extent_count() == 2);
  CHECK(f.ra.is_valid());
  CHECK(f.ra.free_bytes() == 15 * kPage);
}

TEST_CASE("random operations agree with a page bitmap model") {
  constexpr std::size_t kPages = 512;
  Fixture f(kPages, 4096);
  std::vector<bool> used(kPages, false);
  std::mt19937 rng(12345);
  for (int step = 0; step < 20000; ++step) {
    std::size_t first = rng() % kPages, n = 1 + rng() % 16;
    if (first + n > kPages) n = kPages - first;
    std::uintptr_t addr = kBase + first * kPage;
    switch (rng() % 3) {
      case 0: {
        std::size_t align = kPage << (rng() % 4);
        std::uintptr_t a = f.ra.allocate(n * kPage, align);
        // Model: the lowest aligned run of n free pages.
        std::uintptr_t want = 0;
        for (std::size_t p = 0; p + n <= kPages && want == 0; ++p) {
          if ((kBase + p * kPage) % align != 0) continue;
          bool ok = true;
          for (std::size_t q = p; q < p + n && ok; ++q) ok = !used[q];
          if (ok) want = kBase + p * kPage;
        }
        REQUIRE(a == want);
        if (a != 0)
          for (std::size_t q = 0; q < n; ++q) used[(a - kBase) / kPage + q] = true;
        break;
      }
      case 1:
        REQUIRE(f.ra.claim(addr, n * kPage));
        for (std::size_t q = first; q < first + n; ++q) used[q] = true;
        break;
      default:
        REQUIRE(f.ra.release(addr, n * kPage));
        for (std::size_t q = first; q < first + n; ++q) used[q] = false;
    }
    REQUIRE(f.ra.is_valid());
    std::size_t free_pages = 0;
    for (bool u : used) free_pages += !u;
    REQUIRE(f.ra.free_bytes() == free_pages * kPage);
    std::size_t probe = rng() % kPages;
    REQUIRE(f.ra.is_free(kBase + probe * kPage, kPage) == !used[probe]);
  }
}
