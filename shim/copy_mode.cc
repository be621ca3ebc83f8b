// Copy mode: carrying the VM's private memory through the window; see
// copy_mode.h. Only beam.smp without the preload gets here.
#include "copy_mode.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "log.h"
#include "slot_codec.h"

namespace nifshim {
namespace {

using abi::ApiId;
using abi::decode;

constexpr std::size_t kChunk = 64 * 1024;   // arena chunks; bigger copies get their own range
constexpr std::size_t kSpareChunks = 32;    // kept mapped for the next calls
// Bigger ranges are kept too, up to this much in all: a fresh range costs a
// page fault per page on first touch, a reused one nothing.
constexpr std::size_t kSpareBigBytes = std::size_t{64} << 20;

bool in_window(const void* p, std::size_t n = 1) {
  WindowMapper* m = g_shim.active_mapper();
  return p == nullptr || (m && m->window().contains(reinterpret_cast<std::uintptr_t>(p), n ? n : 1));
}

std::size_t page_round(std::size_t n) { return (std::max<std::size_t>(n, 1) + 4095) & ~std::size_t{4095}; }

void* map_range(std::size_t len) {
  void* p = g_shim.active_mapper()->map(len, PROT_READ | PROT_WRITE, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void unmap_range(void* p, std::size_t len) { g_shim.active_mapper()->unmap(p, len); }

struct Range {
  void* at;
  std::size_t len;
};

// A make_new_binary buffer: the worker writes `w`, the VM's binary is `d`.
struct Dirty {
  void* w;
  void* d;
  std::size_t n;
};

struct Arena {
  std::vector<Range> ranges;
  char* cur = nullptr;
  std::size_t left = 0;
  std::vector<Dirty> dirty;
};

// A binary the NIF owns: its window buffer and the VM's.
struct Owned {
  void* d;
  std::size_t len;  // of the window range
};

// An I/O vector handed to the worker (a window copy) and the VM's own.
struct IoVecRecord {
  ErlNifIOVec* vm;
  bool ours;  // vm is our malloc'd copy of a caller-provided vector
};

std::mutex g_mu;
std::unordered_map<const void*, Arena>& g_arenas = *new std::unordered_map<const void*, Arena>;
std::unordered_map<void*, Owned>& g_owned = *new std::unordered_map<void*, Owned>;
std::unordered_map<void*, IoVecRecord>& g_iovecs = *new std::unordered_map<void*, IoVecRecord>;
std::vector<void*>& g_spare = *new std::vector<void*>;
struct SpareRange { void* at; std::size_t len; };
std::vector<SpareRange>& g_spare_big = *new std::vector<SpareRange>;
std::size_t g_spare_big_bytes = 0;

// A range of at least len bytes (page multiple): a kept one that is not
// more than twice as big, else a fresh one. *got is its real length.
void* big_range_locked(std::size_t len, std::size_t* got) {
  for (std::size_t i = 0; i < g_spare_big.size(); ++i) {
    SpareRange r = g_spare_big[i];
    if (r.len >= len && r.len <= 2 * len) {
      g_spare_big.erase(g_spare_big.begin() + long(i));
      g_spare_big_bytes -= r.len;
      *got = r.len;
      return r.at;
    }
  }
  *got = len;
  return map_range(len);
}

void drop_big_range_locked(void* at, std::size_t len) {
  while (g_spare_big_bytes + len > kSpareBigBytes && !g_spare_big.empty()) {
    unmap_range(g_spare_big.front().at, g_spare_big.front().len);
    g_spare_big_bytes -= g_spare_big.front().len;
    g_spare_big.erase(g_spare_big.begin());
  }
  if (len > kSpareBigBytes) {
    unmap_range(at, len);
    return;
  }
  g_spare_big.push_back(SpareRange{at, len});
  g_spare_big_bytes += len;
}

// g_arenas.size(), readable without the lock: most calls copy nothing, and
// the end of such a call need not take the lock to find that out. An env's
// arena is only made by the thread serving it, so a 0 read there is exact.
std::atomic<std::size_t> g_arena_count{0};
void count_arenas_locked() { g_arena_count.store(g_arenas.size(), std::memory_order_relaxed); }

// The envs with make_new_binary buffers among those this thread serves.
thread_local std::vector<const void*> t_dirty_envs;

void* arena_alloc_locked(const void* key, std::size_t n) {
  Arena& a = g_arenas[key];
  n = (std::max<std::size_t>(n, 1) + 15) & ~std::size_t{15};  // a 0-byte copy is a valid pointer too
  if (n > kChunk / 4) {
    std::size_t len = 0;
    void* p = big_range_locked(page_round(n), &len);
    if (p) a.ranges.push_back(Range{p, len});
    return p;
  }
  if (a.left < n) {
    void* p = nullptr;
    if (!g_spare.empty()) {
      p = g_spare.back();
      g_spare.pop_back();
    } else {
      p = map_range(kChunk);
    }
    if (p == nullptr) return nullptr;
    a.ranges.push_back(Range{p, kChunk});
    a.cur = static_cast<char*>(p);
    a.left = kChunk;
  }
  void* r = a.cur;
  a.cur += n;
  a.left -= n;
  return r;
}

// A window copy of n bytes at src, living as long as `key`; nullptr (logged)
// when the window is full.
void* view(const void* key, const void* src, std::size_t n) {
  void* w;
  {
    std::lock_guard<std::mutex> g(g_mu);
    w = arena_alloc_locked(key, n);
    count_arenas_locked();
  }
  if (w == nullptr) {
    log_error("copy mode: no room in the window for a %zu-byte copy", n);
    return nullptr;
  }
  if (src && n) std::memcpy(w, src, n);
  return w;
}

void release_arena(Arena& a) {
  for (const Dirty& d : a.dirty) std::memcpy(d.d, d.w, d.n);
  for (const Range& r : a.ranges) {
    if (r.len == kChunk && g_spare.size() < kSpareChunks)
      g_spare.push_back(r.at);
    else if (r.len == kChunk)
      unmap_range(r.at, r.len);
    else
      drop_big_range_locked(r.at, r.len);
  }
}

// --- binaries the NIF owns

// The VM just handed out bin (data private to it): give the worker a window
// buffer in its place, with the contents if `copy`.
void own(ErlNifBinary* bin, bool copy) {
  if (in_window(bin->data, bin->size)) return;
  std::size_t len = page_round(bin->size);
  void* w = map_range(len);
  if (w == nullptr) {
    log_error("copy mode: no room in the window for a %zu-byte binary", bin->size);
    return;  // the worker gets the VM's pointer: it faults rather than lose data silently
  }
  if (copy && bin->size) std::memcpy(w, bin->data, bin->size);
  std::lock_guard<std::mutex> g(g_mu);
  g_owned[w] = Owned{bin->data, len};
  bin->data = static_cast<unsigned char*>(w);
}

// Ownership passes back to the VM: write the worker's bytes to the VM's
// binary and point bin at it. *out gets the window range (to free or keep).
bool give_back(ErlNifBinary* bin, Range* out) {
  Owned o;
  {
    std::lock_guard<std::mutex> g(g_mu);
    auto it = g_owned.find(bin->data);
    if (it == g_owned.end()) return false;
    o = it->second;
    g_owned.erase(it);
  }
  std::memcpy(o.d, bin->data, std::min(bin->size, o.len));
  *out = Range{bin->data, o.len};
  bin->data = static_cast<unsigned char*>(o.d);
  return true;
}

// What copy_before hands copy_after for the same request: realloc's old
// buffer, make_binary's buffer, free_iovec's copy to free.
thread_local Range t_pending{nullptr, 0};

// --- I/O vectors

// A window copy of the VM's vector v (data included) for the env; the VM's
// stays behind for enif_free_iovec and enif_ioq_enqv.
ErlNifIOVec* iovec_view(const void* env, ErlNifIOVec* v, bool caller_vector) {
  const int n = v->iovcnt;
  std::size_t bytes = sizeof(ErlNifIOVec) + std::size_t(n) * (sizeof(SysIOVec) + sizeof(void*));
  auto* c = static_cast<ErlNifIOVec*>(view(env, nullptr, bytes));
  if (c == nullptr) return nullptr;
  std::memcpy(c, v, sizeof *c);
  c->iov = reinterpret_cast<SysIOVec*>(c + 1);
  c->ref_bins = reinterpret_cast<void**>(c->iov + n);
  for (int i = 0; i < n; ++i) {
    c->ref_bins[i] = v->ref_bins[i];
    c->iov[i].iov_len = v->iov[i].iov_len;
    void* base = v->iov[i].iov_base;
    if (!in_window(base, v->iov[i].iov_len)) base = view(env, base, v->iov[i].iov_len);
    c->iov[i].iov_base = static_cast<decltype(c->iov[i].iov_base)>(base);
  }
  ErlNifIOVec* vm = v;
  if (caller_vector) {  // filled in place in the request's scratch: keep a copy
    vm = static_cast<ErlNifIOVec*>(std::malloc(sizeof(ErlNifIOVec)));
    std::memcpy(vm, v, sizeof *vm);
    vm->iov = vm->small_iov;
    vm->ref_bins = vm->small_ref_bin;
    std::memcpy(vm->small_iov, v->iov, sizeof(SysIOVec) * std::size_t(std::min(n, ERL_NIF_IOVEC_SIZE)));
    std::memcpy(vm->small_ref_bin, v->ref_bins, sizeof(void*) * std::size_t(std::min(n, ERL_NIF_IOVEC_SIZE)));
  }
  std::lock_guard<std::mutex> g(g_mu);
  g_iovecs[c] = IoVecRecord{vm, caller_vector};
  return c;
}

ErlNifIOVec* iovec_vm(void* c, bool erase, bool* ours) {
  std::lock_guard<std::mutex> g(g_mu);
  auto it = g_iovecs.find(c);
  if (it == g_iovecs.end()) return nullptr;
  IoVecRecord r = it->second;
  if (erase) g_iovecs.erase(it);
  if (ours) *ours = r.ours;
  return r.vm;
}

}  // namespace

void copy_env_done(const void* env) {
  if (g_arena_count.load(std::memory_order_relaxed) == 0) return;
  std::lock_guard<std::mutex> g(g_mu);
  auto it = g_arenas.find(env);
  if (it == g_arenas.end()) return;
  release_arena(it->second);
  g_arenas.erase(it);
  count_arenas_locked();
  auto& t = t_dirty_envs;
  t.erase(std::remove(t.begin(), t.end(), env), t.end());
}

void copy_sync() {
  if (t_dirty_envs.empty()) return;
  std::lock_guard<std::mutex> g(g_mu);
  for (const void* env : t_dirty_envs) {
    auto it = g_arenas.find(env);
    if (it == g_arenas.end()) continue;
    for (const Dirty& d : it->second.dirty) std::memcpy(d.d, d.w, d.n);
  }
}

void copy_before(ApiId id, std::uint64_t* s) {
  copy_sync();
  switch (id) {
    case ApiId::enif_make_binary: {  // (env, bin): the term takes the binary
      auto* bin = decode<ErlNifBinary*>(s[1]);
      Range r;
      if (bin && give_back(bin, &r)) {
        // The NIF may still read bin->data: the buffer lives as long as the env.
        std::lock_guard<std::mutex> g(g_mu);
        g_arenas[decode<ErlNifEnv*>(s[0])].ranges.push_back(r);
        count_arenas_locked();
        t_pending = r;
      }
      break;
    }
    case ApiId::enif_release_binary:   // (bin)
    case ApiId::enif_ioq_enq_binary: {  // (q, bin, skip)
      auto* bin = decode<ErlNifBinary*>(s[id == ApiId::enif_release_binary ? 0 : 1]);
      Range r;
      if (bin && give_back(bin, &r)) unmap_range(r.at, r.len);
      break;
    }
    case ApiId::enif_realloc_binary: {  // (bin, size)
      auto* bin = decode<ErlNifBinary*>(s[0]);
      t_pending = Range{nullptr, 0};
      Range r;
      if (bin && give_back(bin, &r)) t_pending = r;
      break;
    }
    case ApiId::enif_free_env:
    case ApiId::enif_clear_env:
      copy_env_done(decode<ErlNifEnv*>(s[0]));
      break;
    case ApiId::enif_ioq_destroy:
    case ApiId::enif_ioq_deq:
      copy_env_done(decode<ErlNifIOQueue*>(s[0]));
      break;
    case ApiId::enif_free_iovec: {  // (iov)
      bool ours = false;
      if (ErlNifIOVec* vm = iovec_vm(decode<void*>(s[0]), true, &ours)) {
        s[0] = reinterpret_cast<std::uint64_t>(vm);
        if (ours) t_pending = Range{vm, 0};  // freed after the call
      }
      break;
    }
    case ApiId::enif_ioq_enqv:  // (q, iov, skip)
      if (ErlNifIOVec* vm = iovec_vm(decode<void*>(s[1]), false, nullptr))
        s[1] = reinterpret_cast<std::uint64_t>(vm);
      break;
    default:
      break;
  }
}

void copy_after(ApiId id, std::uint64_t* s, std::uint64_t* result) {
  switch (id) {
    case ApiId::enif_inspect_binary:             // (env, term, bin)
    case ApiId::enif_inspect_iolist_as_binary: {  // (env, term, bin)
      auto* bin = decode<ErlNifBinary*>(s[2]);
      if (*result && bin && !in_window(bin->data, bin->size))
        if (void* w = view(decode<ErlNifEnv*>(s[0]), bin->data, bin->size))
          bin->data = static_cast<unsigned char*>(w);
      break;
    }
    case ApiId::enif_get_tuple: {  // (env, tpl, arity*, array**)
      auto* arity = decode<int*>(s[2]);
      auto** array = decode<const ERL_NIF_TERM**>(s[3]);
      const std::size_t n = arity ? std::size_t(*arity) * sizeof(ERL_NIF_TERM) : 0;
      if (*result && array && !in_window(*array, n))
        if (void* w = view(decode<ErlNifEnv*>(s[0]), *array, n)) *array = static_cast<const ERL_NIF_TERM*>(w);
      break;
    }
    case ApiId::enif_alloc_binary:  // (size, bin)
      if (*result) own(decode<ErlNifBinary*>(s[1]), false);
      break;
    case ApiId::enif_term_to_binary:  // (env, term, bin)
      if (*result) own(decode<ErlNifBinary*>(s[2]), true);
      break;
    case ApiId::enif_realloc_binary: {  // (bin, size)
      auto* bin = decode<ErlNifBinary*>(s[0]);
      Range from = t_pending;
      t_pending = Range{nullptr, 0};
      if (from.at == nullptr) break;
      if (*result) {
        unmap_range(from.at, from.len);
        own(bin, true);
      } else {  // the old binary stays the NIF's, as it was
        std::lock_guard<std::mutex> g(g_mu);
        g_owned[from.at] = Owned{bin->data, from.len};
        bin->data = static_cast<unsigned char*>(from.at);
      }
      break;
    }
    case ApiId::enif_make_binary: {  // the NIF keeps reading its buffer
      auto* bin = decode<ErlNifBinary*>(s[1]);
      if (t_pending.at && bin) bin->data = static_cast<unsigned char*>(t_pending.at);
      t_pending = Range{nullptr, 0};
      break;
    }
    case ApiId::enif_make_new_binary: {  // (env, size, termp) -> VM bytes
      auto env = decode<ErlNifEnv*>(s[0]);
      const auto n = static_cast<std::size_t>(s[1]);
      void* d = decode<void*>(*result);
      if (d == nullptr || in_window(d, n)) break;
      void* w = view(env, nullptr, n);
      if (w == nullptr) break;
      std::lock_guard<std::mutex> g(g_mu);
      g_arenas[env].dirty.push_back(Dirty{w, d, n});
      count_arenas_locked();
      if (std::find(t_dirty_envs.begin(), t_dirty_envs.end(), env) == t_dirty_envs.end())
        t_dirty_envs.push_back(env);
      *result = reinterpret_cast<std::uint64_t>(w);
      break;
    }
    case ApiId::enif_inspect_iovec: {  // (env, max, term, tail*, iovec**)
      auto** holder = decode<ErlNifIOVec**>(s[4]);
      if (*result == 0 || holder == nullptr || *holder == nullptr) break;
      ErlNifIOVec* v = *holder;
      // A vector in the window is the caller's, filled in place in the
      // request's scratch; any other ERTS allocated.
      if (ErlNifIOVec* c = iovec_view(decode<ErlNifEnv*>(s[0]), v, in_window(v, sizeof *v))) *holder = c;
      break;
    }
    case ApiId::enif_free_iovec:
      if (t_pending.at) std::free(t_pending.at);
      t_pending = Range{nullptr, 0};
      break;
    case ApiId::enif_ioq_peek: {  // (q, iovlen*) -> SysIOVec*
      auto* q = decode<ErlNifIOQueue*>(s[0]);
      auto* len = decode<int*>(s[1]);
      auto* iov = decode<SysIOVec*>(*result);
      copy_env_done(q);  // the previous peek's copies
      if (iov == nullptr || len == nullptr || *len <= 0) break;
      auto* c = static_cast<SysIOVec*>(view(q, iov, sizeof(SysIOVec) * std::size_t(*len)));
      if (c == nullptr) break;
      for (int i = 0; i < *len; ++i)
        if (!in_window(iov[i].iov_base, iov[i].iov_len))
          c[i].iov_base = static_cast<decltype(c[i].iov_base)>(view(q, iov[i].iov_base, iov[i].iov_len));
      *result = reinterpret_cast<std::uint64_t>(c);
      break;
    }
    case ApiId::enif_send: {  // (env, pid, msg_env, msg): msg_env is cleared
      if (*result && s[2]) copy_env_done(decode<ErlNifEnv*>(s[2]));
      break;
    }
    default:
      break;
  }
}

}  // namespace nifshim
