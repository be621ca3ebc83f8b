// Off-heap terms built in place: enif_make_binary of a binary the NIF
// allocated, enif_make_resource, and enif_realloc_binary when it shrinks a
// binary by a little. jiffy's encoder allocates, shrinks and makes a 2 KB
// binary per chunk of output (three round trips, now one); crypto's
// hash_update makes a resource per 20 KB piece.
//
// Both terms are things on the call's heap that ERTS links into the
// process's off-heap list (ErlOffHeap: first, overhead; erl_message.h), so
// that GC finds them: a ProcBin (binary.c build_proc_bin) or a magic
// reference (erl_bif_unique.h erts_mk_magic_ref). Where that list lies in the
// Process is not taken on trust: the probe env's process (the phony process
// of enif_alloc_env) holds the probe's refc binary alone, so its list is the
// one word that points at that ProcBin followed by 100 / 8. Then the first
// kLearnAgree forwarded calls of each function are compared, word by word, with
// what the worker would have written; after that it writes them itself. One
// disagreement keeps that function forwarded for good, with a log line.
// Only for the call's own env on a normal scheduler (the direct heap).
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "enif_direct.h"
#include "export.h"
#include "log.h"
#include "term_layout.h"
#include "test_hooks.h"
#include "thread_role.h"
#include "worker_state.h"

namespace nifshim::worker {
namespace {

namespace T = abi::term;
using T::Term;


// ErlOffHeap (erl_message.h).
struct OffHeap {
  Term first;  // struct erl_off_heap_header*
  std::uint64_t overhead;
};

// Where Process.off_heap lies; 0: not found (everything here is forwarded).
std::atomic<std::size_t> g_at{0};
constexpr std::size_t kProcScan = 2048;  // bytes of the Process searched (it is larger)

// A runtime laid out otherwise, as a test simulates it (run_case.sh
// direct_offheap): the worker's ProcBin would carry a flag, and its magic
// reference one word more, than ERTS's.
bool simulated_mismatch() {
  static const bool on = [] {
    const char* m = std::getenv("NIFSHIM_TEST_LAYOUT_MISMATCH");
    return m && std::strcmp(m, "offheap") == 0;
  }();
  return on;
}

// One function's way from forwarded to direct.
struct Learner : Learning {
  explicit Learner(const char* n) : name(n) {}
  const char* name;
};
Learner g_make_binary{"enif_make_binary"};
Learner g_make_resource{"enif_make_resource"};

// The call env's off-heap list, when this thread builds on its heap.
OffHeap* off_heap_of(ErlNifEnv* env) {
  const std::size_t at = g_at.load(std::memory_order_relaxed);
  const ThreadRole& r = thread_role();
  if (at == 0 || env != r.env || r.proc == 0) return nullptr;
  auto* oh = reinterpret_cast<OffHeap*>(r.proc + at);
  if (!in_window(oh) || (oh->first != 0 && !in_window(reinterpret_cast<const void*>(oh->first)))) return nullptr;
  return oh;
}

// The call's process, asking the VM for the heap (and so the process) if
// this call has neither yet -- one round trip, as forwarding would cost, and
// the function's later calls get both lent with the call: nullptr when the
// direct heap does not apply.
OffHeap* off_heap_with_heap(ErlNifEnv* env) {
  if (g_at.load(std::memory_order_relaxed) == 0) return nullptr;
  const ThreadRole& r = thread_role();
  if (r.proc == 0 && direct_heap(env, 0) == nullptr) return nullptr;
  return off_heap_of(env);
}

// A ProcBin for Binary `b` at pb, linked first into `oh` (build_proc_bin).
void write_procbin(Term* pb, OffHeap* oh, const unsigned char* b) {
  const std::uint64_t orig_size = word_at(b, T::kBinOrigSizeAt);
  pb[0] = T::kProcBinHeader;
  pb[1] = orig_size;
  pb[2] = oh->first;
  pb[T::kProcBinVal] = reinterpret_cast<Term>(b);
  pb[T::kProcBinBytes] = reinterpret_cast<Term>(b + T::kBinOrigBytesAt);
  pb[T::kProcBinFlags] = simulated_mismatch() ? 1 : 0;
  // Complete before it is linked, in program order too: a worker killed
  // here leaves the VM a list it can walk (vm_exchange.cc drop_unfinished_offheap).
  std::atomic_signal_fence(std::memory_order_seq_cst);
  oh->first = reinterpret_cast<Term>(pb);
  oh->overhead += orig_size / sizeof(Term);
}

void give_up(Learner& l, const char* what) {
  l.state.store(-1, std::memory_order_release);
  log_error("%s: %s builds its term other than expected (%s): it stays forwarded", g_worker.lib_name, l.name,
            what);
}

// One forwarded call agreed (or not) with what the worker would have built.
void judge(Learner& l, bool same, const char* what) {
  std::lock_guard<std::mutex> g(l.mu);
  if (l.state.load(std::memory_order_relaxed) != 0) return;
  if (!same) return give_up(l, what);
  if (++l.agreed >= kLearnAgree) {
    l.state.store(1, std::memory_order_release);
    log_debug("%s: %s builds in place (%d of the VM's terms agreed)", g_worker.lib_name, l.name, l.agreed);
  }
}


// A binary the NIF allocated (enif_alloc_binary), as erl_nif.c hands it out.
const unsigned char* nif_binary(const ErlNifBinary* bin) {
  auto* b = static_cast<const unsigned char*>(bin->ref_bin);
  if (b == nullptr || !in_window(b) || (word_at(b, T::kBinFlagsAt) & T::kBinFlagMagic) != 0 ||
      bin->data != b + T::kBinOrigBytesAt)
    return nullptr;
  return b;
}

// enif_make_binary as erl_nif.c does it: a ProcBin, and up to 64 bytes a heap
// binary before it (the ProcBin then only keeps the binary until the next GC).
bool make_binary_here(ErlNifEnv* env, ErlNifBinary* bin, Term* out) {
  const unsigned char* b = nif_binary(bin);
  OffHeap* oh = b ? off_heap_with_heap(env) : nullptr;
  if (oh == nullptr) return false;
  const std::size_t small = bin->size <= T::kOnHeapBinLimit ? T::heap_bin_words(bin->size) : 0;
  Term* p = direct_heap(env, small + T::kProcBinWords);
  if (p == nullptr) return false;
  if (small != 0) {
    p[0] = T::heap_bin_header(bin->size);
    p[1] = bin->size;
    std::memcpy(p + 2, bin->data, bin->size);
  }
  write_procbin(p + small, oh, b);
  test_die_point(DiePoint::kOffheap);
  *out = T::make_boxed(p);
  bin->ref_bin = nullptr;  // the term owns the binary now
  return true;
}

// A forwarded enif_make_binary, compared with what make_binary_here writes.
Term make_binary_learning(ErlNifEnv* env, ErlNifBinary* bin) {
  const unsigned char* b = nif_binary(bin);
  OffHeap* oh = b ? off_heap_with_heap(env) : nullptr;
  if (oh == nullptr) return fwd::enif_make_binary(env, bin);
  const Term first = oh->first;
  const std::uint64_t overhead = oh->overhead, orig_size = word_at(b, T::kBinOrigSizeAt);
  const std::size_t size = bin->size;
  const Term t = fwd::enif_make_binary(env, bin);
  if (!T::is_boxed(t)) return t;
  Term want[T::kProcBinWords];
  OffHeap expect{first, overhead};
  write_procbin(want, &expect, b);
  const Term* pb = reinterpret_cast<const Term*>(oh->first);
  bool same = bin->ref_bin == nullptr && oh->overhead == overhead + orig_size / sizeof(Term) &&
              in_window(pb) && std::memcmp(pb, want, sizeof want) == 0;
  if (size <= T::kOnHeapBinLimit)
    same = same && T::ptr(t)[0] == T::heap_bin_header(size) && T::ptr(t)[1] == size &&
           std::memcmp(T::ptr(t) + 2, b + T::kBinOrigBytesAt, size) == 0;
  else
    same = same && T::ptr(t) == pb;
  judge(g_make_binary, same, "the ProcBin or the off-heap list");
  return t;
}

// A magic reference to resource binary mb at p, linked first into `oh`
// (write_magic_ref_thing, then erts_refc_inc and OH_OVERHEAD). The caller
// counts the reference before: a linked entry always holds one, which the VM
// drops if the worker dies before it reports the term.
void write_magic_ref(Term* p, OffHeap* oh, unsigned char* mb) {
  p[0] = T::kRefThingHeader + (simulated_mismatch() ? Term{1} << T::kHeaderArityOffset : 0);
  p[1] = reinterpret_cast<Term>(mb);
  p[2] = oh->first;
  std::atomic_signal_fence(std::memory_order_seq_cst);  // complete before linked (write_procbin)
  oh->first = reinterpret_cast<Term>(p);
  oh->overhead += word_at(mb, T::kBinOrigSizeAt) / sizeof(Term);
}

}  // namespace

void direct_offheap_probe(ERL_NIF_TERM refc_bin, ERL_NIF_TERM env_proc) {
  const auto* proc = reinterpret_cast<const unsigned char*>(env_proc);
  if (!T::is_boxed(refc_bin) || !in_window(proc) || !in_window(proc + kProcScan)) {
    log_debug("%s: the probe's process is not in the window: off-heap terms are forwarded", g_worker.lib_name);
    return;
  }
  const Term pb = reinterpret_cast<Term>(T::ptr(refc_bin));
  std::size_t found = 0;
  int n = 0;
  for (std::size_t at = 8; at + sizeof(OffHeap) <= kProcScan; at += 8) {
    const auto* oh = reinterpret_cast<const OffHeap*>(proc + at);
    if (oh->first == pb && oh->overhead == 100 / sizeof(Term)) found = at, ++n;
  }
  if (n != 1) {
    log_error("%s: the process's off-heap list was not found (%d candidates): off-heap terms are forwarded",
              g_worker.lib_name, n);
    return;
  }
  g_at.store(found, std::memory_order_relaxed);
  log_debug("%s: the process's off-heap list lies at offset %zu", g_worker.lib_name, found);
}

}  // namespace nifshim::worker

using namespace nifshim::worker;

extern "C" NIFSHIM_EXPORT ERL_NIF_TERM enif_make_binary(ErlNifEnv* env, ErlNifBinary* bin) {
  Term t;
  if (g_make_binary.direct() && make_binary_here(env, bin, &t)) return t;
  if (g_make_binary.learning()) return make_binary_learning(env, bin);
  return fwd::enif_make_binary(env, bin);
}

// A shrink that leaves at most kShrinkSlack bytes unused is done in place, as
// the allocator often does it too; the binary keeps its block until freed.
// Bigger changes go to the VM (erts_bin_realloc).
constexpr std::size_t kShrinkSlack = 4096;

extern "C" NIFSHIM_EXPORT int enif_realloc_binary(ErlNifBinary* bin, size_t size) {
  // The Binary's layout (orig_size, bytes) is what make_binary learned.
  const unsigned char* b = g_make_binary.direct() ? nif_binary(bin) : nullptr;
  if (b != nullptr) {
    const std::uint64_t orig_size = word_at(b, T::kBinOrigSizeAt);
    if (size <= orig_size && orig_size - size <= kShrinkSlack) {
      *reinterpret_cast<std::uint64_t*>(const_cast<unsigned char*>(b) + T::kBinOrigSizeAt) = size;
      bin->size = size;
      return 1;
    }
  }
  return fwd::enif_realloc_binary(bin, size);
}

extern "C" NIFSHIM_EXPORT ERL_NIF_TERM enif_make_resource(ErlNifEnv* env, void* obj) {
  unsigned char* mb = direct_resource_binary(obj);
  if (mb == nullptr || g_make_resource.state.load(std::memory_order_acquire) < 0)
    return fwd::enif_make_resource(env, obj);
  if (g_make_resource.direct()) {
    OffHeap* oh = off_heap_with_heap(env);
    Term* p = oh ? direct_heap(env, T::kMagicRefWords) : nullptr;
    if (p == nullptr) return fwd::enif_make_resource(env, obj);
    reinterpret_cast<std::atomic<std::int64_t>*>(mb + T::kBinRefcAt)->fetch_add(1, std::memory_order_relaxed);
    write_magic_ref(p, oh, mb);
    test_die_point(DiePoint::kOffheap);
    return T::make_boxed(p);
  }
  // Learning: the VM builds it; the worker compares.
  OffHeap* oh = off_heap_with_heap(env);
  if (oh == nullptr) return fwd::enif_make_resource(env, obj);
  OffHeap expect{oh->first, oh->overhead};
  const Term t = fwd::enif_make_resource(env, obj);
  Term want[T::kMagicRefWords];
  write_magic_ref(want, &expect, mb);
  const bool same = T::is_boxed(t) && oh->first == reinterpret_cast<Term>(T::ptr(t)) &&
                    oh->overhead == expect.overhead && std::memcmp(T::ptr(t), want, sizeof want) == 0;
  judge(g_make_resource, same, "the magic reference or the off-heap list");
  return t;
}
