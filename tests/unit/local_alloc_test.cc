// Unit tests of the worker's arena allocator (worker/enif_local_alloc.cc):
// enif_alloc/enif_realloc/enif_free and local_alloc in an exclusive mimalloc
// arena. local_alloc_init works once per process, so everything runs in one
// test case, in order.
#include "local_alloc.h"

#include <doctest/doctest.h>
#include <erl_nif.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

using nifshim::worker::kLocalArenaAlign;
using nifshim::worker::local_alloc;
using nifshim::worker::local_alloc_contains;
using nifshim::worker::local_alloc_init;
using nifshim::worker::local_free;

namespace {

constexpr std::size_t kArenaSize = std::size_t{256} << 20;
constexpr std::size_t kMiB = std::size_t{1} << 20;

// An anonymous region of `size` bytes aligned to kLocalArenaAlign (the
// over-allocation is trimmed off both ends).
char* map_aligned(std::size_t size) {
  std::size_t len = size + kLocalArenaAlign;
  void* raw = mmap(nullptr, len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  auto a = reinterpret_cast<std::uintptr_t>(raw);
  std::uintptr_t aligned = (a + kLocalArenaAlign - 1) & ~(kLocalArenaAlign - 1);
  if (aligned > a) munmap(raw, aligned - a);
  std::uintptr_t end = a + len, used_end = aligned + size;
  if (end > used_end) munmap(reinterpret_cast<void*>(used_end), end - used_end);
  return reinterpret_cast<char*>(aligned);
}

// Runs fn with stderr redirected into a pipe; returns what was written.
template <class F>
std::string capture_stderr(F fn) {
  int fds[2];
  if (pipe(fds) != 0) return "<pipe failed>";
  int saved = dup(STDERR_FILENO);
  dup2(fds[1], STDERR_FILENO);
  close(fds[1]);
  fn();
  dup2(saved, STDERR_FILENO);
  close(saved);
  fcntl(fds[0], F_SETFL, O_NONBLOCK);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  return out;
}

struct Region {
  char* lo;
  char* hi;
  bool holds(const void* p, std::size_t n = 1) const {
    auto c = static_cast<const char*>(p);
    return c >= lo && c + n <= hi;
  }
};

std::uintptr_t segment_of(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p) & ~(kLocalArenaAlign - 1);
}

}  // namespace

TEST_CASE("enif_alloc & co serve from the exclusive shared arena") {
  static bool ran = false;
  REQUIRE_MESSAGE(!ran, "local_alloc_init is once per process");
  ran = true;

  // --- before the arena exists: loud failure, never another allocator
  std::string err = capture_stderr([] {
    CHECK(enif_alloc(16) == nullptr);
    CHECK(enif_realloc(nullptr, 16) == nullptr);
    CHECK(local_alloc(16) == nullptr);
    enif_free(nullptr);  // a no-op, says nothing
  });
  CHECK(err.find("nifshim-worker: enif_alloc before the shared arena is set up\n") !=
        std::string::npos);
  CHECK(err.find("enif_realloc before the shared arena is set up") != std::string::npos);
  CHECK(err.find("local_alloc before the shared arena is set up") != std::string::npos);

  char* base = map_aligned(kArenaSize);
  REQUIRE(base != nullptr);
  REQUIRE(reinterpret_cast<std::uintptr_t>(base) % kLocalArenaAlign == 0);
  const Region arena{base, base + kArenaSize};

  // --- bad arguments are refused without using up the one initialisation
  err = capture_stderr([&] {
    CHECK_FALSE(local_alloc_init(base + 4096, kArenaSize - kLocalArenaAlign));
    CHECK_FALSE(local_alloc_init(base, kLocalArenaAlign - 1));
  });
  CHECK(err.find("32 MiB aligned") != std::string::npos);
  REQUIRE(local_alloc_init(base, kArenaSize));
  err = capture_stderr([&] { CHECK_FALSE(local_alloc_init(base, kArenaSize)); });
  CHECK(err.find("called twice") != std::string::npos);
  CHECK(local_alloc_contains(base));
  CHECK_FALSE(local_alloc_contains(base + kArenaSize));
  CHECK_FALSE(local_alloc_contains(&err));

  // --- a big block (64 MiB) lands inside too; first, while the arena is empty
  {
    const std::size_t big = 64 * kMiB;
    auto* p = static_cast<char*>(enif_alloc(big));
    REQUIRE(p != nullptr);
    CHECK(arena.holds(p, big));
    p[0] = 1;
    p[big - 1] = 2;
    CHECK(p[0] + p[big - 1] == 3);
    enif_free(p);
  }

  // --- small blocks, enif_alloc(0), local_alloc
  {
    void* a = enif_alloc(100);
    void* z1 = enif_alloc(0);
    void* z2 = enif_alloc(0);
    void* l = local_alloc(4096);
    REQUIRE(a != nullptr);
    REQUIRE(z1 != nullptr);  // ERTS: a unique block, not NULL
    REQUIRE(z2 != nullptr);
    REQUIRE(l != nullptr);
    CHECK(z1 != z2);
    CHECK(arena.holds(a, 100));
    CHECK(arena.holds(z1));
    CHECK(arena.holds(l, 4096));
    CHECK(local_alloc_contains(a));
    CHECK(reinterpret_cast<std::uintptr_t>(a) % 8 == 0);
    enif_free(a);
    enif_free(z1);
    enif_free(z2);
    local_free(l);
    local_free(nullptr);
    enif_free(nullptr);
  }

  // --- realloc keeps the content, grows, shrinks, and (p, 0) keeps a block
  {
    auto* p = static_cast<unsigned char*>(enif_realloc(nullptr, 100));
    REQUIRE(p != nullptr);
    for (int i = 0; i < 100; i++) p[i] = static_cast<unsigned char>(i * 7);
    auto* q = static_cast<unsigned char*>(enif_realloc(p, kMiB));
    REQUIRE(q != nullptr);
    CHECK(arena.holds(q, kMiB));
    bool same = true;
    for (int i = 0; i < 100; i++) same = same && q[i] == static_cast<unsigned char>(i * 7);
    CHECK(same);
    std::memset(q + 100, 0xab, kMiB - 100);
    auto* r = static_cast<unsigned char*>(enif_realloc(q, 10));
    REQUIRE(r != nullptr);
    CHECK(arena.holds(r, 10));
    same = true;
    for (int i = 0; i < 10; i++) same = same && r[i] == static_cast<unsigned char>(i * 7);
    CHECK(same);
    void* s = enif_realloc(r, 0);
    CHECK(s != nullptr);
    CHECK(arena.holds(s));
    enif_free(s);
  }

  // --- freed memory is reused: 2 GiB of churn through a 256 MiB arena
  {
    std::set<void*> first;
    std::vector<void*> v;
    for (int i = 0; i < 1000; i++) v.push_back(enif_alloc(256));
    for (void* p : v) {
      REQUIRE(p != nullptr);
      first.insert(p);
      enif_free(p);
    }
    v.clear();
    int reused = 0;
    for (int i = 0; i < 1000; i++) {
      void* p = enif_alloc(256);
      REQUIRE(p != nullptr);
      reused += first.count(p) ? 1 : 0;
      v.push_back(p);
    }
    CHECK(reused > 900);
    for (void* p : v) enif_free(p);
    bool all_ok = true;
    for (int i = 0; i < 2048; i++) {
      void* p = enif_alloc(kMiB);
      all_ok = all_ok && p != nullptr && arena.holds(p, kMiB);
      enif_free(p);
    }
    CHECK(all_ok);
  }

  // --- several threads, each with its own heap; frees across threads
  {
    constexpr int kThreads = 4;
    constexpr int kBlocks = 2000;
    // Blocks the main thread allocates and the threads free.
    std::vector<std::vector<void*>> from_main(kThreads);
    for (auto& vec : from_main)
      for (int i = 0; i < 100; i++) vec.push_back(enif_alloc(48));
    std::vector<std::vector<void*>> made(kThreads);
    std::atomic<int> outside{0}, failed{0}, at_barrier{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++) {
      threads.emplace_back([&, t] {
        for (void* p : from_main[t]) enif_free(p);  // cross-thread free
        for (int i = 0; i < kBlocks; i++) {
          std::size_t sz = static_cast<std::size_t>(8 + (i * 37 + t * 101) % 3000);
          auto* p = static_cast<char*>(i % 2 ? enif_alloc(sz) : local_alloc(sz));
          if (!p) {
            failed++;
            continue;
          }
          if (!arena.holds(p, sz)) outside++;
          std::memset(p, t + 1, sz);
          made[t].push_back(p);
        }
        // A realloc in a thread moves the block into that thread's heap.
        void* r = enif_realloc(made[t].back(), 20000);
        if (!r || !arena.holds(r, 20000)) outside++;
        if (r) made[t].back() = r;
        // Stay alive until all have allocated: an exited thread's segments
        // are abandoned and may be adopted by the next thread.
        at_barrier++;
        while (at_barrier.load() < kThreads) std::this_thread::yield();
      });
    }
    for (auto& th : threads) th.join();
    CHECK(failed.load() == 0);
    CHECK(outside.load() == 0);
    // Each live thread allocated in segments of its own (per-thread heaps).
    std::vector<std::set<std::uintptr_t>> segs(kThreads);
    for (int t = 0; t < kThreads; t++)
      for (void* p : made[t]) segs[t].insert(segment_of(p));
    int shared = 0;
    for (int a = 0; a < kThreads; a++)
      for (int b = a + 1; b < kThreads; b++)
        for (std::uintptr_t s : segs[a]) shared += static_cast<int>(segs[b].count(s));
    CHECK(shared == 0);
    // The threads have exited; their blocks are still intact and freed here.
    bool intact = true;
    for (int t = 0; t < kThreads; t++) {
      for (std::size_t i = 0; i + 1 < made[t].size(); i++)
        intact = intact && static_cast<char*>(made[t][i])[0] == t + 1;
      for (void* p : made[t]) enif_free(p);
    }
    CHECK(intact);
  }

  // --- exhaustion: NULL, never memory from elsewhere
  {
    std::vector<void*> v;
    bool inside = true;
    for (int i = 0; i < 16; i++) {
      void* p = enif_alloc(40 * kMiB);
      if (!p) break;
      inside = inside && arena.holds(p, 40 * kMiB);
      v.push_back(p);
    }
    CHECK(inside);
    CHECK(v.size() >= 1);
    CHECK(v.size() < 16);  // 256 MiB cannot hold 16 x 40 MiB
    for (void* p : v) enif_free(p);
    void* again = enif_alloc(40 * kMiB);
    CHECK(again != nullptr);
    enif_free(again);
  }

  // --- a pointer that is not the arena's is reported, not handed to mimalloc
  {
    int on_stack[2] = {0, 0};
    err = capture_stderr([&] {
      enif_free(&on_stack[0]);
      CHECK(enif_realloc(&on_stack[1], 64) == nullptr);
    });
    CHECK(err.find("enif_free") != std::string::npos);
    CHECK(err.find("not a block of the worker's arena") != std::string::npos);
    CHECK(err.find("enif_realloc") != std::string::npos);
  }
}
