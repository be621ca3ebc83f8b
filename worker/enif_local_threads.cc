// The NIF thread API, run locally in the worker on pthreads: mutexes,
// condition variables, rwlocks, thread-specific data and threads
// (enif_mutex_*, enif_cond_*, enif_rwlock_*, enif_tsd_*, enif_thread_*).
// Owns the opaque ErlDrvMutex_/ErlDrvCond_/ErlDrvRWLock_/ErlDrvTid_ structs.
//
// Semantics follow OTP 25's erts/emulator/beam/erl_drv_thread.c (which
// erl_nif.c:2139-2175 calls one to one) and erts/lib_src/pthread/ethread.c:
// - *_create copy the name; a NULL name reads back as "unknown"; the *_name
//   functions return the stored name (NULL for a NULL object) in every build,
//   not only with lock checking.
// - trylock/tryrlock/tryrwlock return 0 or EBUSY; thread_create and join
//   return 0 or an errno value; tsd_key_create returns 0 or ENOMEM (*key=-1).
// - misuse that ERTS answers with fatal_error() -- a NULL object, an invalid
//   TSD key, enif_thread_exit on a thread enif_thread_create did not make --
//   prints "Fatal error in F: strerror [errno]" and aborts the worker.
// - rwlocks prefer writers (ethr_rwmutex: readers queue behind a waiting
//   writer, so read locks must not be taken recursively).
// - TSD keys are small integers, the lowest free one is handed out first;
//   values live in a per-thread array and are not cleared when a key is
//   destroyed (a reused key can show an old value, as natively).
// - enif_thread_self works on any thread: a thread enif_thread_create did not
//   make gets a record named "unknown" on first use, freed when it exits;
//   enif_thread_join on it returns EINVAL.
// - suggested_stack_size (kilowords) is turned into a stack size exactly as
//   ethr_thr_create does (page aligned, + a page, + the guard page, clamped to
//   [ethread's minimum, 64 MiB]); -1 means the system default. The guard is
//   one page.
// - signals: a new thread inherits its creator's signal mask, as in ERTS
//   (sys.c's thr_create_sigmask, blocked around thread creation, is empty in
//   OTP 25).
// - a thread's name (truncated to 15 bytes) is set with pthread_setname_np,
//   as ethr_setname does, so it shows in top -H / ps -L.
// Worker-specific: a created thread calls thread_role_set_nif_thread() before
// the user's function. Bookkeeping lives in the worker's private heap.
#include <erl_nif.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "export.h"
#include "thread_role.h"

struct ErlDrvMutex_ {
  pthread_mutex_t mtx;
  char* name;
};

struct ErlDrvCond_ {
  pthread_cond_t cnd;
  char* name;
};

struct ErlDrvRWLock_ {
  pthread_rwlock_t rwlck;
  char* name;
};

struct ErlDrvTid_ {
  pthread_t tid;
  void* (*func)(void*);
  void* arg;
  bool drv_thr;  // made by enif_thread_create (joinable, freed by join)
  int tsd_len;
  void** tsd;
  char* name;
};

namespace nifshim::worker {
namespace {

char g_no_name[] = "unknown";

[[noreturn]] void fatal_error(int err, const char* func) {
  const char* estr = strerrordesc_np(err);
  if (!estr) estr = err == ENOTSUP ? "Not supported" : "Unknown error";
  char line[256];
  int n = std::snprintf(line, sizeof line, "nifshim-worker: Fatal error in %s: %s [%d]\n", func,
                        estr, err);
  if (n > 0) {
    if (static_cast<size_t>(n) >= sizeof line) n = sizeof line - 1;
    ssize_t w = ::write(STDERR_FILENO, line, static_cast<size_t>(n));
    (void)w;
  }
  std::abort();
}

// malloc(size + the name's copy); *name_out points into the block, or at
// "unknown" when name is NULL.
void* alloc_named(size_t size, const char* name, char** name_out) {
  size_t nlen = name ? std::strlen(name) + 1 : 0;
  char* block = static_cast<char*>(std::malloc(size + nlen));
  if (!block) return nullptr;
  if (name) {
    *name_out = block + size;
    std::memcpy(*name_out, name, nlen);
  } else {
    *name_out = g_no_name;
  }
  return block;
}

// ---- per-thread records -------------------------------------------------

pthread_key_t g_tid_key;
pthread_once_t g_tid_once = PTHREAD_ONCE_INIT;

// Runs when a thread that has a record exits (ERTS: thread_exit_handler).
void thread_exit_handler(void* v) {
  auto* dtid = static_cast<ErlDrvTid_*>(v);
  std::free(dtid->tsd);
  dtid->tsd = nullptr;
  dtid->tsd_len = 0;
  if (!dtid->drv_thr) std::free(dtid);
}

void tid_key_init() {
  int res = pthread_key_create(&g_tid_key, thread_exit_handler);
  if (res != 0) fatal_error(res, "erl_drv_thr_init()");
}

ErlDrvTid_* current_record() {
  pthread_once(&g_tid_once, tid_key_init);
  return static_cast<ErlDrvTid_*>(pthread_getspecific(g_tid_key));
}

// ---- TSD key registry ---------------------------------------------------
// Keys are indexes into per-thread arrays. Which keys exist is read without
// a lock (enif_tsd_get is hot), so the "in use" flags live in chunks that are
// never moved or freed; creation and destruction serialise on a mutex.

constexpr int kKeyChunkBits = 10;
constexpr int kKeyChunk = 1 << kKeyChunkBits;
constexpr int kKeyChunks = 4096;  // up to 4M keys
constexpr int kMaxKeys = kKeyChunk * kKeyChunks;

std::atomic<std::atomic<unsigned char>*> g_key_chunks[kKeyChunks];
pthread_mutex_t g_tsd_mtx = PTHREAD_MUTEX_INITIALIZER;
int g_next_key = 0;  // lowest free key; -1 when none is left (under g_tsd_mtx)

std::atomic<unsigned char>* key_slot(int key) {
  auto* chunk = g_key_chunks[key >> kKeyChunkBits].load(std::memory_order_acquire);
  return chunk ? &chunk[key & (kKeyChunk - 1)] : nullptr;
}

bool key_in_use(int key) {
  if (key < 0 || key >= kMaxKeys) return false;
  auto* slot = key_slot(key);
  return slot && slot->load(std::memory_order_acquire) != 0;
}

// Under g_tsd_mtx. false: out of memory.
bool ensure_key_chunk(int key) {
  auto& cell = g_key_chunks[key >> kKeyChunkBits];
  if (cell.load(std::memory_order_relaxed)) return true;
  void* mem = std::calloc(kKeyChunk, sizeof(std::atomic<unsigned char>));
  if (!mem) return false;
  cell.store(static_cast<std::atomic<unsigned char>*>(mem), std::memory_order_release);
  return true;
}

void check_key(int key, const char* func) {
  if (!key_in_use(key)) fatal_error(EINVAL, func);
}

// ---- thread creation ----------------------------------------------------

size_t page_size() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

size_t page_align(size_t sz) { return ((sz - 1) / page_size() + 1) * page_size(); }

// ethr_aux.c: ethr_min_stack_size__, ethr_max_stack_size__ (64-bit).
size_t min_stack_size() {
  size_t min = 4 * 1024 * 2 + 4 * 1024 + SIGSTKSZ;
  if (min < static_cast<size_t>(PTHREAD_STACK_MIN)) min = PTHREAD_STACK_MIN;
  min += page_size();  // the guard
  return page_align(min);
}

constexpr size_t kMaxStackSize = size_t{64} << 20;

void* thread_wrapper(void* v) {
  auto* dtid = static_cast<ErlDrvTid_*>(v);
  int res = pthread_setspecific(g_tid_key, dtid);
  if (res != 0) fatal_error(res, "erl_drv_thread_wrapper()");
  thread_role_set_nif_thread();
  if (dtid->name != g_no_name) {
    char comm[16];
    std::snprintf(comm, sizeof comm, "%s", dtid->name);
    pthread_setname_np(pthread_self(), comm);
  }
  return dtid->func(dtid->arg);
}

}  // namespace
}  // namespace nifshim::worker

using namespace nifshim::worker;

extern "C" {

// ---- mutexes ------------------------------------------------------------

NIFSHIM_EXPORT ErlNifMutex* enif_mutex_create(char* name) {
  char* stored;
  auto* m = static_cast<ErlNifMutex*>(alloc_named(sizeof(ErlNifMutex), name, &stored));
  if (!m) return nullptr;
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  // ethr_mutex spins before it sleeps; glibc's adaptive mutex does the same.
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
  int res = pthread_mutex_init(&m->mtx, &attr);
  pthread_mutexattr_destroy(&attr);
  if (res != 0) {
    std::free(m);
    return nullptr;
  }
  m->name = stored;
  return m;
}

NIFSHIM_EXPORT void enif_mutex_destroy(ErlNifMutex* mtx) {
  int res = mtx ? pthread_mutex_destroy(&mtx->mtx) : EINVAL;
  if (res != 0) fatal_error(res, "enif_mutex_destroy()");
  std::free(mtx);
}

NIFSHIM_EXPORT int enif_mutex_trylock(ErlNifMutex* mtx) {
  if (!mtx) fatal_error(EINVAL, "enif_mutex_trylock()");
  int res = pthread_mutex_trylock(&mtx->mtx);
  if (res != 0 && res != EBUSY) fatal_error(res, "enif_mutex_trylock()");
  return res;
}

NIFSHIM_EXPORT void enif_mutex_lock(ErlNifMutex* mtx) {
  if (!mtx) fatal_error(EINVAL, "enif_mutex_lock()");
  int res = pthread_mutex_lock(&mtx->mtx);
  if (res != 0) fatal_error(res, "enif_mutex_lock()");
}

NIFSHIM_EXPORT void enif_mutex_unlock(ErlNifMutex* mtx) {
  if (!mtx) fatal_error(EINVAL, "enif_mutex_unlock()");
  int res = pthread_mutex_unlock(&mtx->mtx);
  if (res != 0) fatal_error(res, "enif_mutex_unlock()");
}

NIFSHIM_EXPORT char* enif_mutex_name(ErlNifMutex* mtx) { return mtx ? mtx->name : nullptr; }

// ---- condition variables ------------------------------------------------

NIFSHIM_EXPORT ErlNifCond* enif_cond_create(char* name) {
  char* stored;
  auto* c = static_cast<ErlNifCond*>(alloc_named(sizeof(ErlNifCond), name, &stored));
  if (!c) return nullptr;
  if (pthread_cond_init(&c->cnd, nullptr) != 0) {
    std::free(c);
    return nullptr;
  }
  c->name = stored;
  return c;
}

NIFSHIM_EXPORT void enif_cond_destroy(ErlNifCond* cnd) {
  int res = cnd ? pthread_cond_destroy(&cnd->cnd) : EINVAL;
  if (res != 0) fatal_error(res, "enif_cond_destroy()");
  std::free(cnd);
}

NIFSHIM_EXPORT void enif_cond_signal(ErlNifCond* cnd) {
  if (!cnd) fatal_error(EINVAL, "enif_cond_signal()");
  pthread_cond_signal(&cnd->cnd);
}

NIFSHIM_EXPORT void enif_cond_broadcast(ErlNifCond* cnd) {
  if (!cnd) fatal_error(EINVAL, "enif_cond_broadcast()");
  pthread_cond_broadcast(&cnd->cnd);
}

// May wake spuriously, as natively (callers loop on their predicate).
NIFSHIM_EXPORT void enif_cond_wait(ErlNifCond* cnd, ErlNifMutex* mtx) {
  if (!cnd || !mtx) fatal_error(EINVAL, "enif_cond_wait()");
  int res = pthread_cond_wait(&cnd->cnd, &mtx->mtx);
  if (res != 0) fatal_error(res, "enif_cond_wait()");
}

NIFSHIM_EXPORT char* enif_cond_name(ErlNifCond* cnd) { return cnd ? cnd->name : nullptr; }

// ---- rwlocks ------------------------------------------------------------

NIFSHIM_EXPORT ErlNifRWLock* enif_rwlock_create(char* name) {
  char* stored;
  auto* l = static_cast<ErlNifRWLock*>(alloc_named(sizeof(ErlNifRWLock), name, &stored));
  if (!l) return nullptr;
  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init(&attr);
  pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  int res = pthread_rwlock_init(&l->rwlck, &attr);
  pthread_rwlockattr_destroy(&attr);
  if (res != 0) {
    std::free(l);
    return nullptr;
  }
  l->name = stored;
  return l;
}

NIFSHIM_EXPORT void enif_rwlock_destroy(ErlNifRWLock* rwlck) {
  int res = rwlck ? pthread_rwlock_destroy(&rwlck->rwlck) : EINVAL;
  if (res != 0) fatal_error(res, "enif_rwlock_destroy()");
  std::free(rwlck);
}

NIFSHIM_EXPORT int enif_rwlock_tryrlock(ErlNifRWLock* rwlck) {
  if (!rwlck) fatal_error(EINVAL, "enif_rwlock_tryrlock()");
  int res = pthread_rwlock_tryrdlock(&rwlck->rwlck);
  if (res == EAGAIN) res = EBUSY;  // too many readers: ERTS only ever says EBUSY
  if (res != 0 && res != EBUSY) fatal_error(res, "enif_rwlock_tryrlock()");
  return res;
}

NIFSHIM_EXPORT void enif_rwlock_rlock(ErlNifRWLock* rwlck) {
  if (!rwlck) fatal_error(EINVAL, "enif_rwlock_rlock()");
  int res = pthread_rwlock_rdlock(&rwlck->rwlck);
  if (res != 0) fatal_error(res, "enif_rwlock_rlock()");
}

NIFSHIM_EXPORT void enif_rwlock_runlock(ErlNifRWLock* rwlck) {
  if (!rwlck) fatal_error(EINVAL, "enif_rwlock_runlock()");
  int res = pthread_rwlock_unlock(&rwlck->rwlck);
  if (res != 0) fatal_error(res, "enif_rwlock_runlock()");
}

NIFSHIM_EXPORT int enif_rwlock_tryrwlock(ErlNifRWLock* rwlck) {
  if (!rwlck) fatal_error(EINVAL, "enif_rwlock_tryrwlock()");
  int res = pthread_rwlock_trywrlock(&rwlck->rwlck);
  if (res != 0 && res != EBUSY) fatal_error(res, "enif_rwlock_tryrwlock()");
  return res;
}

NIFSHIM_EXPORT void enif_rwlock_rwlock(ErlNifRWLock* rwlck) {
  if (!rwlck) fatal_error(EINVAL, "enif_rwlock_rwlock()");
  int res = pthread_rwlock_wrlock(&rwlck->rwlck);
  if (res != 0) fatal_error(res, "enif_rwlock_rwlock()");
}

NIFSHIM_EXPORT void enif_rwlock_rwunlock(ErlNifRWLock* rwlck) {
  if (!rwlck) fatal_error(EINVAL, "enif_rwlock_rwunlock()");
  int res = pthread_rwlock_unlock(&rwlck->rwlck);
  if (res != 0) fatal_error(res, "enif_rwlock_rwunlock()");
}

NIFSHIM_EXPORT char* enif_rwlock_name(ErlNifRWLock* rwlck) { return rwlck ? rwlck->name : nullptr; }

// ---- thread-specific data -----------------------------------------------

// The name is not kept: nothing can read a TSD key's name back.
NIFSHIM_EXPORT int enif_tsd_key_create(char* /*name*/, ErlNifTSDKey* key) {
  if (!key) fatal_error(EINVAL, "enif_tsd_key_create()");
  pthread_mutex_lock(&g_tsd_mtx);
  int k = g_next_key;
  if (k < 0 || !ensure_key_chunk(k)) {
    pthread_mutex_unlock(&g_tsd_mtx);
    *key = -1;
    return ENOMEM;
  }
  key_slot(k)->store(1, std::memory_order_release);
  int next = k + 1;
  while (next < kMaxKeys && key_in_use(next)) next++;
  g_next_key = next < kMaxKeys ? next : -1;
  pthread_mutex_unlock(&g_tsd_mtx);
  *key = k;
  return 0;
}

NIFSHIM_EXPORT void enif_tsd_key_destroy(ErlNifTSDKey key) {
  pthread_mutex_lock(&g_tsd_mtx);
  check_key(key, "enif_tsd_key_destroy()");
  key_slot(key)->store(0, std::memory_order_release);
  if (g_next_key < 0 || key < g_next_key) g_next_key = key;
  pthread_mutex_unlock(&g_tsd_mtx);
}

NIFSHIM_EXPORT void enif_tsd_set(ErlNifTSDKey key, void* data) {
  ErlDrvTid_* dtid = enif_thread_self();
  check_key(key, "enif_tsd_set()");
  if (dtid->tsd_len <= key) {
    int old_len = dtid->tsd_len;
    int new_len = key + 10;  // ERL_DRV_TSD_EXTRA
    auto* grown =
        static_cast<void**>(std::realloc(dtid->tsd, sizeof(void*) * static_cast<size_t>(new_len)));
    if (!grown) fatal_error(ENOMEM, "enif_tsd_set()");
    for (int i = old_len; i < new_len; i++) grown[i] = nullptr;
    dtid->tsd = grown;
    dtid->tsd_len = new_len;
  }
  dtid->tsd[key] = data;
}

NIFSHIM_EXPORT void* enif_tsd_get(ErlNifTSDKey key) {
  ErlDrvTid_* dtid = current_record();
  check_key(key, "enif_tsd_get()");
  if (!dtid || dtid->tsd_len <= key) return nullptr;
  return dtid->tsd[key];
}

// ---- threads ------------------------------------------------------------

NIFSHIM_EXPORT ErlNifThreadOpts* enif_thread_opts_create(char* /*name*/) {
  auto* opts = static_cast<ErlNifThreadOpts*>(std::malloc(sizeof(ErlNifThreadOpts)));
  if (!opts) return nullptr;
  opts->suggested_stack_size = -1;
  return opts;
}

NIFSHIM_EXPORT void enif_thread_opts_destroy(ErlNifThreadOpts* opts) {
  if (!opts) fatal_error(EINVAL, "enif_thread_opts_destroy()");
  std::free(opts);
}

NIFSHIM_EXPORT int enif_thread_create(char* name, ErlNifTid* tid, void* (*func)(void*), void* args,
                                      ErlNifThreadOpts* opts) {
  if (!tid || !func) return EINVAL;
  pthread_once(&g_tid_once, tid_key_init);
  char* stored;
  auto* dtid = static_cast<ErlDrvTid_*>(alloc_named(sizeof(ErlDrvTid_), name, &stored));
  if (!dtid) return ENOMEM;
  dtid->drv_thr = true;
  dtid->func = func;
  dtid->arg = args;
  dtid->tsd = nullptr;
  dtid->tsd_len = 0;
  dtid->name = stored;

  pthread_attr_t attr;
  int res = pthread_attr_init(&attr);
  if (res != 0) {
    std::free(dtid);
    return res;
  }
  res = pthread_attr_setscope(&attr, PTHREAD_SCOPE_SYSTEM);
  if (res == ENOTSUP) res = 0;
  if (res == 0 && opts && opts->suggested_stack_size >= 0) {
    size_t stack =
        page_align(static_cast<size_t>(opts->suggested_stack_size) * sizeof(void*) * 1024);
    stack += page_size();  // "for possible system usage"
    stack += page_size();  // the guard
    if (stack < min_stack_size())
      stack = min_stack_size();
    else if (stack > kMaxStackSize)
      stack = kMaxStackSize;
    (void)pthread_attr_setstacksize(&attr, stack);
  }
  if (res == 0) {
    (void)pthread_attr_setguardsize(&attr, page_size());
    res = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_JOINABLE);
  }
  if (res == 0) res = pthread_create(&dtid->tid, &attr, thread_wrapper, dtid);
  int dres = pthread_attr_destroy(&attr);
  if (res == 0) res = dres;
  if (res != 0) {
    std::free(dtid);
    return res;
  }
  *tid = dtid;
  return 0;
}

NIFSHIM_EXPORT ErlNifTid enif_thread_self(void) {
  ErlDrvTid_* dtid = current_record();
  if (!dtid) {
    // A thread enif_thread_create did not make; freed when it exits.
    dtid = static_cast<ErlDrvTid_*>(std::malloc(sizeof(ErlDrvTid_)));
    if (!dtid) fatal_error(ENOMEM, "enif_thread_self()");
    dtid->drv_thr = false;
    dtid->tid = pthread_self();
    dtid->func = nullptr;
    dtid->arg = nullptr;
    dtid->tsd = nullptr;
    dtid->tsd_len = 0;
    dtid->name = g_no_name;
    int res = pthread_setspecific(g_tid_key, dtid);
    if (res != 0) fatal_error(res, "enif_thread_self()");
  }
  return dtid;
}

NIFSHIM_EXPORT int enif_equal_tids(ErlNifTid tid1, ErlNifTid tid2) {
  if (!tid1 || !tid2) fatal_error(EINVAL, "enif_equal_tids()");
  return tid1 == tid2;
}

NIFSHIM_EXPORT void enif_thread_exit(void* resp) {
  ErlDrvTid_* dtid = current_record();
  if (dtid && dtid->drv_thr) pthread_exit(resp);  // the key's destructor frees the TSD array
  fatal_error(EACCES, "enif_thread_exit()");
}

NIFSHIM_EXPORT int enif_thread_join(ErlNifTid tid, void** respp) {
  if (!tid) fatal_error(EINVAL, "enif_thread_join()");
  if (!tid->drv_thr) return EINVAL;
  int res = pthread_join(tid->tid, respp);
  if (res == 0) std::free(tid);
  return res;
}

NIFSHIM_EXPORT char* enif_thread_name(ErlNifTid tid) { return tid ? tid->name : nullptr; }

}  // extern "C"
