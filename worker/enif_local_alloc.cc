// enif_alloc, enif_realloc and enif_free in the worker, and the local_alloc
// helpers (local_alloc.h): mimalloc heaps, one per thread, all in the
// exclusive arena that local_alloc_init registers.
//
// ERTS semantics matched (erl_nif.c:539-552 -> erts_alloc_fnf/
// erts_realloc_fnf/erts_free on the NIF type, erl_alloc_util.c with
// ALLOC_ZERO_EQ_NULL == 0):
// - enif_alloc(0) returns a unique, freeable pointer; NULL only when memory
//   runs out (no abort: the "fnf" variants);
// - enif_realloc(NULL, n) allocates; enif_realloc(p, 0) returns a (small)
//   block and frees p; on failure it returns NULL and p stays valid;
// - enif_free(NULL) does nothing.
// Where the worker differs: before local_alloc_init, or with a pointer that
// is not in the arena (a bug the VM would crash on or corrupt memory with),
// the call writes a line on stderr and fails (NULL) or leaks, rather than
// allocate elsewhere or hand mimalloc a foreign pointer.
#include <erl_nif.h>
#include <mimalloc.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include "export.h"
#include "local_alloc.h"
#include "worker_stats_abi.h"

namespace nifshim::worker {
namespace {

std::atomic<bool> g_ready{false};
mi_arena_id_t g_arena_id;
std::uintptr_t g_lo = 0, g_hi = 0;  // [g_lo, g_hi): the arena as given

// The calling thread's heap. mimalloc deletes a thread's extra heaps when the
// thread exits (its own pthread-key destructor); g_heap_key's destructor,
// created later and so run after mimalloc's, forgets the pointer, so an
// allocation made by a later destructor gets a fresh heap.
thread_local mi_heap_t* t_heap = nullptr;
pthread_key_t g_heap_key;

void forget_heap(void*) { t_heap = nullptr; }

void say(const char* line) {
  ssize_t w = ::write(STDERR_FILENO, line, std::strlen(line));
  (void)w;
}

void say_not_ready(const char* func) {
  char line[160];
  std::snprintf(line, sizeof line, "nifshim-worker: %s before the shared arena is set up\n", func);
  say(line);
}

void say_foreign(const char* func, const void* p) {
  char line[200];
  std::snprintf(line, sizeof line,
                "nifshim-worker: %s(%p): not a block of the worker's arena; ignored\n", func, p);
  say(line);
}

mi_heap_t* thread_heap() {
  mi_heap_t* h = t_heap;
  if (h) return h;
  h = mi_heap_new_in_arena(g_arena_id);
  if (!h) return nullptr;
  t_heap = h;
  pthread_setspecific(g_heap_key, h);
  return h;
}

bool in_arena(const void* p) {
  auto a = reinterpret_cast<std::uintptr_t>(p);
  return a >= g_lo && a < g_hi;
}

// What the NIF holds of the arena, for nifshim:workers() (local_alloc_count_into).
abi::WorkerStats* g_stats = nullptr;

// p was allocated in place of an object of `before` usable bytes (0: new).
void* counted(void* p, std::size_t before) {
  if (p && g_stats) {
    g_stats->arena_bytes.fetch_add(std::int64_t(mi_usable_size(p)) - std::int64_t(before),
                                   std::memory_order_relaxed);
    g_stats->arena_allocs.fetch_add(1, std::memory_order_relaxed);
  }
  return p;
}

void* do_alloc(std::size_t size, const char* func) {
  if (!g_ready.load(std::memory_order_acquire)) {
    say_not_ready(func);
    return nullptr;
  }
  mi_heap_t* h = thread_heap();
  return h ? mi_heap_malloc(h, size) : nullptr;
}

void do_free(void* p, const char* func) {
  if (!p) return;
  if (!g_ready.load(std::memory_order_acquire)) {
    say_not_ready(func);
    return;
  }
  if (!in_arena(p)) {
    say_foreign(func, p);
    return;
  }
  mi_free(p);
}

}  // namespace

bool local_alloc_init(void* arena_base, std::size_t arena_size) {
  auto base = reinterpret_cast<std::uintptr_t>(arena_base);
  if (base == 0 || base % kLocalArenaAlign != 0 || arena_size < kLocalArenaAlign) {
    char line[200];
    std::snprintf(line, sizeof line,
                  "nifshim-worker: arena %p + %zu bytes: needs a 32 MiB aligned base and at least "
                  "32 MiB\n",
                  arena_base, arena_size);
    say(line);
    return false;
  }
  static std::atomic<bool> called{false};
  if (called.exchange(true)) {
    say("nifshim-worker: local_alloc_init called twice\n");
    return false;
  }
  // Created before any NIF code can create keys, after mimalloc's own key.
  if (pthread_key_create(&g_heap_key, forget_heap) != 0) {
    say("nifshim-worker: local_alloc_init: pthread_key_create failed\n");
    return false;
  }
  mi_arena_id_t id;
  if (!mi_manage_os_memory_ex(arena_base, arena_size, /*is_committed=*/true, /*is_large=*/false,
                              /*is_zero=*/true, /*numa_node=*/-1, /*exclusive=*/true, &id)) {
    say("nifshim-worker: mimalloc refused the shared arena\n");
    return false;
  }
  g_arena_id = id;
  g_lo = base;
  g_hi = base + arena_size;
  g_ready.store(true, std::memory_order_release);
  return true;
}

void* local_alloc(std::size_t size) { return do_alloc(size, "local_alloc"); }

void local_alloc_count_into(abi::WorkerStats* stats) { g_stats = stats; }

void local_free(void* p) { do_free(p, "local_free"); }

bool local_alloc_contains(const void* p) {
  return g_ready.load(std::memory_order_acquire) && in_arena(p);
}

}  // namespace nifshim::worker

using namespace nifshim::worker;

extern "C" {

NIFSHIM_EXPORT void* enif_alloc(size_t size) { return counted(do_alloc(size, "enif_alloc"), 0); }

NIFSHIM_EXPORT void* enif_realloc(void* ptr, size_t size) {
  if (!ptr) return counted(do_alloc(size, "enif_realloc"), 0);
  if (!g_ready.load(std::memory_order_acquire)) {
    say_not_ready("enif_realloc");
    return nullptr;
  }
  if (!in_arena(ptr)) {
    say_foreign("enif_realloc", ptr);
    return nullptr;
  }
  mi_heap_t* h = thread_heap();
  const std::size_t before = mi_usable_size(ptr);
  void* q = h ? mi_heap_realloc(h, ptr, size) : nullptr;
  return q ? counted(q, before) : nullptr;
}

NIFSHIM_EXPORT void enif_free(void* ptr) {
  if (ptr && g_stats && g_ready.load(std::memory_order_acquire) && in_arena(ptr))
    g_stats->arena_bytes.fetch_sub(std::int64_t(mi_usable_size(ptr)), std::memory_order_relaxed);
  do_free(ptr, "enif_free");
}

}  // extern "C"
