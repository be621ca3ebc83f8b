// Unit tests of the mmap semantics given inside the window.
#include <doctest/doctest.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <sys/mman.h>
#include <time.h>

#include "window.h"
#include "window_abi.h"
#include "window_mapper.h"

using namespace nifshim;

namespace {
constexpr std::uintptr_t kTestBase = 0x310000000000ull;
constexpr std::size_t kMiB = std::size_t{1} << 20;

struct Fixture {
  Window w;
  WindowMapper* m = nullptr;
  explicit Fixture(std::size_t size = 64 * kMiB, std::size_t keep = 0) {
    const char* why = nullptr;
    REQUIRE(window_create(size, kTestBase, abi::kCarrierAlign, &w, &why) == 0);
    m = new WindowMapper(w, keep);
    REQUIRE(m->ok());
  }
  ~Fixture() {
    delete m;
    window_destroy(&w);
  }
};

bool all_zero(const void* p, std::size_t len) {
  auto* c = static_cast<const unsigned char*>(p);
  for (std::size_t i = 0; i < len; ++i)
    if (c[i] != 0) return false;
  return true;
}
std::uintptr_t addr(void* p) { return reinterpret_cast<std::uintptr_t>(p); }

// The permissions /proc/self/maps shows for the mapping holding p ("rw-s").
std::string perms_at(const void* p) {
  std::FILE* f = std::fopen("/proc/self/maps", "r");
  char line[512];
  std::string got;
  while (f && std::fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    char perms[8];
    if (std::sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && addr(const_cast<void*>(p)) >= lo &&
        addr(const_cast<void*>(p)) < hi)
      got = perms;
  }
  if (f) std::fclose(f);
  return got;
}
}  // namespace

TEST_CASE("map gives zeroed read-write memory inside the window") {
  Fixture f;
  void* p = f.m->map(100, PROT_READ | PROT_WRITE, 0);  // rounded up to a page
  REQUIRE(p != MAP_FAILED);
  CHECK(f.w.contains(addr(p), 4096));
  CHECK(all_zero(p, 4096));
  std::memset(p, 1, 4096);
  void* big = f.m->map(3 * kMiB, PROT_READ | PROT_WRITE, 0);
  REQUIRE(big != MAP_FAILED);
  CHECK(addr(big) % abi::kCarrierAlign == 0);  // carriers come super-aligned
  CHECK(f.m->is_valid());
}

TEST_CASE("unmapped ranges are reused and read as zero again") {
  Fixture f;
  void* p = f.m->map(kMiB, PROT_READ | PROT_WRITE, 0);
  REQUIRE(p != MAP_FAILED);
  std::memset(p, 0x5a, kMiB);
  REQUIRE(f.m->unmap(p, kMiB) == 0);
  void* q = f.m->map(kMiB, PROT_READ | PROT_WRITE, 0);
  CHECK(q == p);
  CHECK(all_zero(q, kMiB));
  CHECK(f.m->free_bytes() == 63 * kMiB);
}

TEST_CASE("map_fixed reserves, commits and decommits like ERTS's literal area") {
  Fixture f;
  void* r = f.m->map(8 * kMiB, PROT_NONE, MAP_NORESERVE);  // reserve
  REQUIRE(r != MAP_FAILED);
  void* c = f.m->map_fixed(r, kMiB, PROT_READ | PROT_WRITE, MAP_FIXED);  // commit
  REQUIRE(c == r);
  std::memset(c, 7, kMiB);
  REQUIRE(f.m->map_fixed(r, kMiB, PROT_NONE, MAP_FIXED | MAP_NORESERVE) == r);  // decommit
  REQUIRE(f.m->map_fixed(r, kMiB, PROT_READ | PROT_WRITE, MAP_FIXED) == r);
  CHECK(all_zero(r, kMiB));  // fresh pages
  errno = 0;
  CHECK(f.m->map_fixed(r, kMiB, PROT_READ, MAP_FIXED_NOREPLACE) == MAP_FAILED);
  CHECK(errno == EEXIST);
  CHECK(f.m->map_fixed(reinterpret_cast<void*>(addr(r) + 1), 4096, PROT_READ, MAP_FIXED) ==
        MAP_FAILED);
}

TEST_CASE("remap grows in place when it can and moves by copy when it must") {
  Fixture f;
  void* a = f.m->map(kMiB, PROT_READ | PROT_WRITE, 0);
  REQUIRE(a != MAP_FAILED);
  std::memset(a, 3, kMiB);
  void* g = f.m->remap(a, kMiB, 2 * kMiB, MREMAP_MAYMOVE, nullptr);
  CHECK(g == a);  // the space after it was free
  CHECK(static_cast<char*>(g)[kMiB - 1] == 3);
  CHECK(all_zero(static_cast<char*>(g) + kMiB, kMiB));
  void* blocker = f.m->map(kMiB, PROT_READ | PROT_WRITE, 0);
  REQUIRE(addr(blocker) == addr(a) + 2 * kMiB);
  errno = 0;
  CHECK(f.m->remap(a, 2 * kMiB, 3 * kMiB, 0, nullptr) == MAP_FAILED);  // no MAYMOVE
  CHECK(errno == ENOMEM);
  void* moved = f.m->remap(a, 2 * kMiB, 3 * kMiB, MREMAP_MAYMOVE, nullptr);
  REQUIRE(moved != MAP_FAILED);
  CHECK(moved != a);
  CHECK(f.w.contains(addr(moved), 3 * kMiB));
  CHECK(static_cast<char*>(moved)[0] == 3);
  CHECK(static_cast<char*>(moved)[kMiB - 1] == 3);
  CHECK(f.m->is_valid());
  // Shrinking gives the tail back.
  std::size_t before = f.m->free_bytes();
  CHECK(f.m->remap(moved, 3 * kMiB, kMiB, 0, nullptr) == moved);
  CHECK(f.m->free_bytes() == before + 2 * kMiB);
  CHECK(f.m->remap(moved, kMiB, 2 * kMiB, MREMAP_MAYMOVE | 4 /* DONTUNMAP */, nullptr) ==
        MAP_FAILED);
}

TEST_CASE("remap with MREMAP_FIXED moves inside the window") {
  Fixture f;
  void* a = f.m->map(kMiB, PROT_READ | PROT_WRITE, 0);
  std::memset(a, 9, kMiB);
  void* target = reinterpret_cast<void*>(f.w.base + 32 * kMiB);
  CHECK(f.m->remap(a, kMiB, kMiB, MREMAP_MAYMOVE | MREMAP_FIXED, target) == target);
  CHECK(static_cast<char*>(target)[123] == 9);
  CHECK(f.m->remap(target, kMiB, kMiB, MREMAP_MAYMOVE | MREMAP_FIXED,
                   reinterpret_cast<void*>(16)) == MAP_FAILED);
}

TEST_CASE("madvise DONTNEED and FREE release pages that then read as zero") {
  Fixture f;
  char* p = static_cast<char*>(f.m->map(kMiB, PROT_READ | PROT_WRITE, 0));
  std::memset(p, 1, kMiB);
  CHECK(f.m->advise(p, 4096, MADV_DONTNEED) == 0);
  CHECK(f.m->advise(p + 8192, 4096, MADV_FREE) == 0);
  CHECK(p[0] == 0);
  CHECK(p[4096] == 1);
  CHECK(p[8192] == 0);
  CHECK(f.m->advise(p, 4096, MADV_WILLNEED) == 0);  // others go to the kernel
  CHECK(f.m->advise(p + 1, 4096, MADV_DONTNEED) == -1);
}

TEST_CASE("exhaustion fails with ENOMEM and the window keeps working") {
  Fixture f(8 * kMiB);
  void* a = f.m->map(6 * kMiB, PROT_READ | PROT_WRITE, 0);
  REQUIRE(a != MAP_FAILED);
  errno = 0;
  CHECK(f.m->map(4 * kMiB, PROT_READ | PROT_WRITE, 0) == MAP_FAILED);
  CHECK(errno == ENOMEM);
  void* b = f.m->map(kMiB, PROT_READ | PROT_WRITE, 0);
  CHECK(b != MAP_FAILED);
  CHECK(f.m->unmap(a, 6 * kMiB) == 0);
  CHECK(f.m->map(4 * kMiB, PROT_READ | PROT_WRITE, 0) != MAP_FAILED);
  CHECK(f.m->is_valid());
}

// --- kept pages (issue 9): freed pages reused instead of punched and refaulted

TEST_CASE("freed pages are kept, then reused zeroed at the same address") {
  Fixture f(64 * kMiB, 8 * kMiB);
  void* p = f.m->map(kMiB, PROT_READ | PROT_WRITE, 0);
  REQUIRE(p != MAP_FAILED);
  std::memset(p, 0x5a, kMiB / 2);  // half of it resident
  REQUIRE(f.m->unmap(p, kMiB) == 0);
  CHECK(f.m->kept_bytes() == kMiB);
  CHECK(f.m->free_resident_bytes() == kMiB / 2);  // counted from the memfd
  CHECK(f.m->is_valid());
  void* q = f.m->map(kMiB, PROT_READ | PROT_WRITE, 0);
  REQUIRE(q == p);
  CHECK(all_zero(q, kMiB));
  CHECK(f.m->kept_bytes() == 0);
  WindowMapper::Stats s = f.m->stats();
  CHECK(s.reused_bytes == kMiB);
  CHECK(s.zeroed_pages == kMiB / 2 / 4096);  // only the resident ones
  CHECK(s.punched_bytes == 0);
  CHECK(f.m->is_valid());
}

TEST_CASE("kept pages stay mapped read-write; punched ones lose all access") {
  // A page table change costs a fault per page at the next touch: kept pages
  // keep theirs. Without keeping, a freed range has no access at once.
  {
    Fixture f(64 * kMiB, 8 * kMiB);
    void* p = f.m->map(kMiB, PROT_READ | PROT_WRITE, 0);
    std::memset(p, 7, kMiB);
    REQUIRE(f.m->unmap(p, kMiB) == 0);
    CHECK(f.m->kept_bytes() == kMiB);
    CHECK(perms_at(p) == "rw-s");
    CHECK(f.m->release_kept(~std::uint64_t{0}) == kMiB);
    CHECK(perms_at(p) == "---s");
    CHECK(f.m->free_resident_bytes() == 0);
  }
  Fixture g(64 * kMiB, 0);
  void* q = g.m->map(kMiB, PROT_READ | PROT_WRITE, 0);
  std::memset(q, 7, kMiB);
  REQUIRE(g.m->unmap(q, kMiB) == 0);
  CHECK(perms_at(q) == "---s");
  CHECK(g.m->free_resident_bytes() == 0);
}

TEST_CASE("kept pages stay within the bound; what is over it is punched at once") {
  Fixture f(64 * kMiB, 2 * kMiB);
  void* big = f.m->map(3 * kMiB, PROT_READ | PROT_WRITE, 0);
  std::memset(big, 1, 3 * kMiB);
  REQUIRE(f.m->unmap(big, 3 * kMiB) == 0);
  CHECK(f.m->kept_bytes() == 0);
  CHECK(f.m->free_resident_bytes() == 0);
  void* a[3];
  for (auto& p : a) {
    p = f.m->map(kMiB, PROT_READ | PROT_WRITE, 0);
    std::memset(p, 2, kMiB);
  }
  REQUIRE(f.m->unmap(a[0], kMiB) == 0);
  REQUIRE(f.m->unmap(a[2], kMiB) == 0);
  CHECK(f.m->kept_bytes() == 2 * kMiB);
  CHECK(f.m->free_resident_bytes() == 2 * kMiB);
  REQUIRE(f.m->unmap(a[1], kMiB) == 0);  // merges with both: 3 MiB, over the bound
  CHECK(f.m->kept_bytes() <= 2 * kMiB);
  CHECK(f.m->free_resident_bytes() == f.m->kept_bytes());
  void* p = f.m->map(kMiB, PROT_READ | PROT_WRITE, 0);
  std::memset(p, 3, kMiB);
  REQUIRE(f.m->unmap(p, kMiB) == 0);
  CHECK(f.m->kept_bytes() == kMiB);
  CHECK(f.m->release_kept(~std::uint64_t{0}) == kMiB);
  CHECK(f.m->kept_bytes() == 0);
  CHECK(f.m->free_resident_bytes() == 0);
  CHECK(f.m->is_valid());
}

TEST_CASE("the releaser thread punches kept pages once they are older than its limit") {
  Fixture f(64 * kMiB, 8 * kMiB);
  REQUIRE(f.m->start_releaser(50 * 1000000ull));
  void* p = f.m->map(kMiB, PROT_READ | PROT_WRITE, 0);
  std::memset(p, 3, kMiB);
  REQUIRE(f.m->unmap(p, kMiB) == 0);
  CHECK(f.m->kept_bytes() == kMiB);
  bool returned = false;
  for (int i = 0; i < 500 && !returned; ++i) {  // up to 5 s
    timespec ts{0, 10 * 1000000};
    nanosleep(&ts, nullptr);
    returned = f.m->kept_bytes() == 0 && f.m->free_resident_bytes() == 0;
  }
  CHECK(returned);
  CHECK(f.m->is_valid());
}

TEST_CASE("fixed mappings, in-place growth and double unmaps over kept pages") {
  Fixture f(64 * kMiB, 8 * kMiB);
  char* a = static_cast<char*>(f.m->map(kMiB, PROT_READ | PROT_WRITE, 0));
  char* b = static_cast<char*>(f.m->map(kMiB, PROT_READ | PROT_WRITE, 0));
  REQUIRE(b == a + kMiB);
  std::memset(a, 4, kMiB);
  std::memset(b, 5, kMiB);
  REQUIRE(f.m->unmap(b, kMiB) == 0);  // kept, right after a
  CHECK(f.m->remap(a, kMiB, 2 * kMiB, MREMAP_MAYMOVE, nullptr) == a);  // grows over it
  CHECK(a[kMiB - 1] == 4);
  CHECK(all_zero(a + kMiB, kMiB));
  REQUIRE(f.m->unmap(a, 2 * kMiB) == 0);
  CHECK(f.m->unmap(a, 2 * kMiB) == 0);  // again: harmless, as natively
  CHECK(f.m->kept_bytes() == 2 * kMiB);
  CHECK(f.m->map_fixed(a, kMiB, PROT_READ | PROT_WRITE, MAP_FIXED) == a);
  CHECK(all_zero(a, kMiB));
  CHECK(f.m->kept_bytes() == kMiB);
  char* c = static_cast<char*>(f.m->map(kMiB, PROT_READ | PROT_WRITE, 0));
  char* d = static_cast<char*>(f.m->map(kMiB, PROT_READ | PROT_WRITE, 0));
  CHECK(c == a + kMiB);  // the kept rest, once
  CHECK(d != c);
  CHECK(all_zero(c, kMiB));
  CHECK(f.m->is_valid());
}
