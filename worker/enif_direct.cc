// The direct path of the term functions; see enif_direct.h. Each function
// here is the exported enif_* of its name (ENIF_FWD_DIRECT in
// abi/enif_api.def) and answers exactly as ERTS's would (erl_nif.c), or
// forwards (fwd::) when it cannot.
#include "enif_direct.h"

#include <xxhash.h>

#include <atomic>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>

#include "custom_abi.h"
#include "export.h"
#include "log.h"
#include "term_layout.h"
#include "thread_role.h"
#include "vm_request.h"
#include "worker_state.h"

namespace nifshim::worker {
namespace {

namespace T = abi::term;
using T::Term;

std::atomic<int> g_state{0};  // 0: not probed, 1: on, -1: off
std::once_flag g_probe_once;
Term g_empty_tuple = 0;  // ERTS's global literal {}

inline bool reads() { return g_state.load(std::memory_order_relaxed) > 0; }

// The heap is full: one round trip makes room for many terms (ERTS takes a
// heap fragment, see shim/enif_serve.cc reserve_heap) rather than one per
// term. Only for the call's own env; false: forward the term instead.
constexpr std::size_t kReserveWords = 1024;

bool reserve(ThreadRole& r, std::size_t n) {
  if (n > kReserveWords || !r.heap_ok) return false;
  VmRequest rq(abi::ApiId::priv_heap_reserve);
  rq.msg().slot[0] = kReserveWords;
  if (rq.send() == 0 || r.hp == 0) {
    r.heap_ok = false;  // the VM lends no heap to this call: forward
    return false;
  }
  r.proc = rq.msg().slot[1];
  return n <= (r.hp_end - r.hp) / sizeof(Term);
}

// n words on the heap of the call being run, for that call's env; nullptr:
// forward instead (ERTS then takes a heap fragment).
inline Term* heap(ErlNifEnv* env, std::size_t n) {
  ThreadRole& r = thread_role();
  if (env != r.env || (r.hp == 0 && !r.heap_ok)) return nullptr;
  if ((r.hp == 0 || n > (r.hp_end - r.hp) / sizeof(Term)) && !reserve(r, n)) return nullptr;
  auto* p = reinterpret_cast<Term*>(r.hp);
  r.hp += n * sizeof(Term);
  return p;
}

inline bool is_tuple(Term t) { return T::is_boxed(t) && T::header_subtag(*T::ptr(t)) == T::kArityval; }
inline bool is_big(Term t) {
  if (!T::is_boxed(t)) return false;
  Term s = T::boxed_subtag(t);
  return s == T::kPosBig || s == T::kNegBig;
}

// 0 if every check passed, else the number of the first that failed.
int verify(const Term* t) {
  using namespace abi::probe;
  int n = 0;
  auto ok = [&](bool c) { ++n; return c; };
  if (!ok(T::is_small(t[kMinus5]) && T::small_value(t[kMinus5]) == -5 && T::make_small(-5) == t[kMinus5]))
    return n;
  if (!ok(T::is_small(t[kMaxSmall]) && T::small_value(t[kMaxSmall]) == T::kMaxSmall &&
          T::make_small(T::kMaxSmall) == t[kMaxSmall]))
    return n;
  if (!ok(T::is_boxed(t[kMaxSmallPlus1]) && T::boxed_subtag(t[kMaxSmallPlus1]) == T::kPosBig &&
          !T::fits_small(T::kMaxSmall + 1)))
    return n;
  if (!ok(T::is_boxed(t[kDouble]) && *T::ptr(t[kDouble]) == T::kFloatHeader && T::float_value(t[kDouble]) == 2.5))
    return n;
  if (!ok(T::is_atom(t[kAtomOk]) && t[kAtomOkLen] == t[kAtomOk] && !T::is_small(t[kAtomOk]))) return n;
  if (!ok(is_tuple(t[kTuple]) && *T::ptr(t[kTuple]) == T::make_arityval(2) && T::ptr(t[kTuple])[1] == t[kMinus5] &&
          T::ptr(t[kTuple])[2] == t[kAtomOk]))
    return n;
  if (!ok(T::is_cons(t[kCell]) && T::ptr(t[kCell])[0] == t[kMinus5] && T::ptr(t[kCell])[1] == T::kNil)) return n;
  if (!ok(t[kNil] == T::kNil)) return n;
  if (!ok(is_tuple(t[kEmptyTuple]) && *T::ptr(t[kEmptyTuple]) == T::make_arityval(0))) return n;
  if (!ok(T::is_boxed(t[kUlongMax]) && T::boxed_subtag(t[kUlongMax]) == T::kPosBig)) return n;
  if (!ok(T::is_boxed(t[kMap]) && T::boxed_subtag(t[kMap]) == T::kMap)) return n;
  if (!ok(T::is_boxed(t[kRef]) && T::boxed_subtag(t[kRef]) == T::kRef)) return n;
  {
    const Term* h = T::ptr(t[kHeapBin]);
    const auto* hb = reinterpret_cast<const unsigned char*>(h + 2);
    if (!ok(T::is_boxed(t[kHeapBin]) && h[0] == T::heap_bin_header(3) && h[1] == 3 && hb[0] == 1 && hb[1] == 2 &&
            hb[2] == 3))
      return n;
    const Term* r = T::ptr(t[kRefcBin]);
    const auto* rb = reinterpret_cast<const unsigned char*>(r[T::kProcBinBytes]);
    if (!ok(T::is_boxed(t[kRefcBin]) && r[0] == T::kProcBinHeader && r[1] == 100 && in_window(rb) && rb[0] == 0 &&
            rb[99] == 99))
      return n;
    for (int k : {int(kSubBin), int(kSubOfHeap)}) {
      const auto* sb = reinterpret_cast<const T::SubBin*>(T::ptr(t[k]));
      const bool of_heap = k == kSubOfHeap;
      if (!ok(T::is_boxed(t[k]) && sb->header == T::kSubBinHeader && sb->size == (of_heap ? 2u : 20u) &&
              sb->offs == (of_heap ? 1u : 10u) && sb->bitsize == 0 && sb->bitoffs == 0 && sb->is_writable == 0 &&
              sb->orig == t[of_heap ? kHeapBin : kRefcBin]))
        return n;
    }
  }
  {  // maps: keys sorted in term order (numbers before atoms)
    const Term* m = T::ptr(t[kMap2]);
    const Term* e = T::ptr(t[kMap]);
    if (!ok(T::is_boxed(t[kMap2]) && T::is_flatmap_header(m[0]) && m[1] == 2 && is_tuple(m[2]) &&
            T::ptr(m[2])[1] == t[kMinus5] && T::ptr(m[2])[2] == t[kAtomOk] && m[3] == t[kAtomOk] &&
            m[4] == t[kMinus5] && T::is_flatmap_header(e[0]) && e[1] == 0 &&
            T::is_boxed(t[kBigMap]) && T::boxed_subtag(t[kBigMap]) == T::kMap &&
            !T::is_flatmap_header(*T::ptr(t[kBigMap]))))
      return n;
  }
  const Term* c = T::ptr(t[kList2]);
  if (!ok(T::is_cons(t[kList2]) && c[0] == t[kMinus5] && c[1] == T::make_cons(c + 2) && c[2] == t[kAtomOk] &&
          c[3] == T::kNil))
    return n;
  return 0;
}

// Atoms never go away (OTP 25 has no atom GC): once the VM has made one for a
// name, the worker answers that name itself.
struct AtomKey {
  std::size_t operator()(const std::string& s) const { return XXH3_64bits(s.data(), s.size()); }
};
std::mutex g_atoms_mu;
std::unordered_map<std::string, Term, AtomKey>& g_atoms = *new std::unordered_map<std::string, Term, AtomKey>;

bool cached_atom(const char* name, std::size_t len, Term* out) {
  std::lock_guard<std::mutex> g(g_atoms_mu);
  auto it = g_atoms.find(std::string(name, len));
  if (it == g_atoms.end()) return false;
  *out = it->second;
  return true;
}

Term remember_atom(const char* name, std::size_t len, Term t) {
  if (T::is_atom(t)) {  // not the badarg exception of a too-long name
    std::lock_guard<std::mutex> g(g_atoms_mu);
    g_atoms.emplace(std::string(name, len), t);
  }
  return t;
}

}  // namespace

void direct_init() {
  std::call_once(g_probe_once, [] {
    const char* v = std::getenv("NIFSHIM_DIRECT");
    if ((v != nullptr && std::strcmp(v, "0") == 0) || g_worker.vm_state == nullptr || vm_copy_mode()) {
      g_state.store(-1);
      return;
    }
    Term t[abi::probe::kCount];
    {
      VmRequest rq(abi::ApiId::priv_probe_terms);
      auto* a = reinterpret_cast<const Term*>(rq.send());
      if (a == nullptr || !in_window(a) || rq.msg().slot[1] != abi::probe::kCount) {
        log_error("%s: no term probe from the VM: every term function is forwarded", g_worker.lib_name);
        g_state.store(-1);
        return;
      }
      std::memcpy(t, a, sizeof t);
    }
    // A runtime whose layout differs, as a test sees it (run_case.sh
    // direct_mismatch): the probe's small integer comes back as another.
    if (const char* m = std::getenv("NIFSHIM_TEST_LAYOUT_MISMATCH"); m && std::strcmp(m, "1") == 0)
      t[abi::probe::kMinus5] = T::make_small(-6);
    for (int i = 0; i < abi::probe::kEnvProc; ++i)
      if (Term x = t[i]; !T::is_immed(x) && !in_window(T::ptr(x))) {
        log_error("%s: the VM's terms are not in the window: every term function is forwarded",
                  g_worker.lib_name);
        g_state.store(-1);
        return;
      }
    if (int bad = verify(t)) {
      // The direct path knows OTP 25's layout (NIF 2.16); OTP 27 rebuilt
      // binaries, so on a newer runtime forwarding is the expected outcome.
      (NIFSHIM_NIF_MINOR > 16 ? log_debug : log_error)(
          "%s: the term layout differs from this runtime's (check %d): every term function is "
          "forwarded",
          g_worker.lib_name, bad);
      g_state.store(-1);
      return;
    }
    g_empty_tuple = t[abi::probe::kEmptyTuple];
    g_state.store(1);
    direct_offheap_probe(t[abi::probe::kRefcBin], t[abi::probe::kEnvProc]);
  });
}

bool direct_enabled() { return reads(); }

ERL_NIF_TERM* direct_heap(ErlNifEnv* env, std::size_t n) { return reads() ? heap(env, n) : nullptr; }

namespace {

// A tuple or list of cnt elements, element i from next(i) (an array or
// va_args), on the call's heap; kNotBuilt when it must be forwarded (then
// next was never called).
constexpr Term kNotBuilt = 0;  // a header word, never a term

template <typename Next>
Term build_tuple(ErlNifEnv* env, unsigned cnt, Next next) {
  if (!reads()) return kNotBuilt;
  if (cnt == 0) return g_empty_tuple;
  Term* p = heap(env, std::size_t(cnt) + 1);
  if (p == nullptr) return kNotBuilt;
  p[0] = T::make_arityval(cnt);
  // Word by word: an array the caller has just stored word by word, read
  // with vector loads, stalls on store forwarding.
  for (unsigned i = 0; i < cnt; ++i) p[i + 1] = next(i);
  return T::make_boxed(p);
}

template <typename Next>
Term build_list(ErlNifEnv* env, unsigned cnt, Next next) {
  if (!reads()) return kNotBuilt;
  if (cnt == 0) return T::kNil;
  Term* p = heap(env, 2 * std::size_t(cnt));
  if (p == nullptr) return kNotBuilt;
  for (unsigned i = 0; i < cnt; ++i) {
    p[2 * i] = next(i);
    p[2 * i + 1] = i + 1 < cnt ? T::make_cons(p + 2 * (i + 1)) : T::kNil;
  }
  return T::make_cons(p);
}

}  // namespace

bool direct_make_tuple_va(ErlNifEnv* env, unsigned cnt, va_list ap, ERL_NIF_TERM* out) {
  *out = build_tuple(env, cnt, [&](unsigned) { return va_arg(ap, ERL_NIF_TERM); });
  return *out != kNotBuilt;
}

bool direct_make_list_va(ErlNifEnv* env, unsigned cnt, va_list ap, ERL_NIF_TERM* out) {
  *out = build_list(env, cnt, [&](unsigned) { return va_arg(ap, ERL_NIF_TERM); });
  return *out != kNotBuilt;
}

bool direct_probed() { return g_state.load(std::memory_order_acquire) != 0; }

}  // namespace nifshim::worker

using namespace nifshim::worker;
namespace T = nifshim::abi::term;
using T::Term;

// --- type tests (erl_nif.c: is_atom, is_list, ...)

extern "C" NIFSHIM_EXPORT int enif_is_atom(ErlNifEnv* env, ERL_NIF_TERM t) {
  return reads() ? T::is_atom(t) : fwd::enif_is_atom(env, t);
}

extern "C" NIFSHIM_EXPORT int enif_is_list(ErlNifEnv* env, ERL_NIF_TERM t) {
  return reads() ? (T::is_cons(t) || t == T::kNil) : fwd::enif_is_list(env, t);
}

extern "C" NIFSHIM_EXPORT int enif_is_empty_list(ErlNifEnv* env, ERL_NIF_TERM t) {
  return reads() ? t == T::kNil : fwd::enif_is_empty_list(env, t);
}

extern "C" NIFSHIM_EXPORT int enif_is_tuple(ErlNifEnv* env, ERL_NIF_TERM t) {
  return reads() ? is_tuple(t) : fwd::enif_is_tuple(env, t);
}

extern "C" NIFSHIM_EXPORT int enif_is_number(ErlNifEnv* env, ERL_NIF_TERM t) {
  if (!reads()) return fwd::enif_is_number(env, t);
  return T::is_small(t) || is_big(t) || (T::is_boxed(t) && T::boxed_subtag(t) == T::kFloat);
}

extern "C" NIFSHIM_EXPORT int enif_is_map(ErlNifEnv* env, ERL_NIF_TERM t) {
  return reads() ? (T::is_boxed(t) && T::boxed_subtag(t) == T::kMap) : fwd::enif_is_map(env, t);
}

extern "C" NIFSHIM_EXPORT int enif_is_pid(ErlNifEnv* env, ERL_NIF_TERM t) {
  if (!reads()) return fwd::enif_is_pid(env, t);
  return (t & T::kImmed1Mask) == T::kImmed1Pid || (T::is_boxed(t) && T::boxed_subtag(t) == T::kExternalPid);
}

extern "C" NIFSHIM_EXPORT int enif_is_port(ErlNifEnv* env, ERL_NIF_TERM t) {
  if (!reads()) return fwd::enif_is_port(env, t);
  return (t & T::kImmed1Mask) == T::kImmed1Port || (T::is_boxed(t) && T::boxed_subtag(t) == T::kExternalPort);
}

extern "C" NIFSHIM_EXPORT int enif_is_fun(ErlNifEnv* env, ERL_NIF_TERM t) {
  if (!reads()) return fwd::enif_is_fun(env, t);
  return T::is_boxed(t) && T::boxed_subtag(t) == T::kFun;
}

extern "C" NIFSHIM_EXPORT int enif_is_ref(ErlNifEnv* env, ERL_NIF_TERM t) {
  if (!reads()) return fwd::enif_is_ref(env, t);
  return T::is_boxed(t) && (T::boxed_subtag(t) == T::kRef || T::boxed_subtag(t) == T::kExternalRef);
}

extern "C" NIFSHIM_EXPORT int enif_is_identical(ERL_NIF_TERM a, ERL_NIF_TERM b) {
  if (reads() && (a == b || (T::is_immed(a) && T::is_immed(b)))) return a == b;
  return fwd::enif_is_identical(a, b);  // a deep comparison
}

extern "C" NIFSHIM_EXPORT ErlNifTermType enif_term_type(ErlNifEnv* env, ERL_NIF_TERM t) {
  if (!reads()) return fwd::enif_term_type(env, t);
  if (T::is_small(t)) return ERL_NIF_TERM_TYPE_INTEGER;
  if (T::is_atom(t)) return ERL_NIF_TERM_TYPE_ATOM;
  if (T::is_cons(t) || t == T::kNil) return ERL_NIF_TERM_TYPE_LIST;
  if ((t & T::kImmed1Mask) == T::kImmed1Pid) return ERL_NIF_TERM_TYPE_PID;
  if ((t & T::kImmed1Mask) == T::kImmed1Port) return ERL_NIF_TERM_TYPE_PORT;
  if (T::is_boxed(t)) {
    switch (T::boxed_subtag(t)) {
      case T::kArityval: return ERL_NIF_TERM_TYPE_TUPLE;
      case T::kPosBig:
      case T::kNegBig: return ERL_NIF_TERM_TYPE_INTEGER;
      case T::kRef:
      case T::kExternalRef: return ERL_NIF_TERM_TYPE_REFERENCE;
      case T::kFun: return ERL_NIF_TERM_TYPE_FUN;
      case T::kFloat: return ERL_NIF_TERM_TYPE_FLOAT;
      case T::kRefcBin:
      case T::kHeapBin:
      case T::kSubBin: return ERL_NIF_TERM_TYPE_BITSTRING;
      case T::kMap: return ERL_NIF_TERM_TYPE_MAP;
      case T::kExternalPid: return ERL_NIF_TERM_TYPE_PID;
      case T::kExternalPort: return ERL_NIF_TERM_TYPE_PORT;
      default: break;
    }
  }
  return fwd::enif_term_type(env, t);
}

// --- reading numbers, tuples and lists

extern "C" NIFSHIM_EXPORT int enif_get_int(ErlNifEnv* env, ERL_NIF_TERM t, int* ip) {
  if (!reads()) return fwd::enif_get_int(env, t, ip);
  if (!T::is_small(t)) return 0;  // a bignum never fits an int
  std::int64_t v = T::small_value(t);
  if (v < INT_MIN || v > INT_MAX) return 0;
  *ip = static_cast<int>(v);
  return 1;
}

extern "C" NIFSHIM_EXPORT int enif_get_uint(ErlNifEnv* env, ERL_NIF_TERM t, unsigned* ip) {
  if (!reads()) return fwd::enif_get_uint(env, t, ip);
  if (!T::is_small(t)) return 0;
  std::int64_t v = T::small_value(t);
  if (v < 0 || v > std::int64_t{UINT_MAX}) return 0;
  *ip = static_cast<unsigned>(v);
  return 1;
}

extern "C" NIFSHIM_EXPORT int enif_get_long(ErlNifEnv* env, ERL_NIF_TERM t, long* ip) {
  if (reads() && T::is_small(t)) {
    *ip = T::small_value(t);
    return 1;
  }
  if (reads() && !is_big(t)) return 0;
  return fwd::enif_get_long(env, t, ip);  // a bignum may still fit
}

extern "C" NIFSHIM_EXPORT int enif_get_ulong(ErlNifEnv* env, ERL_NIF_TERM t, unsigned long* ip) {
  if (reads() && T::is_small(t)) {
    std::int64_t v = T::small_value(t);
    if (v < 0) return 0;
    *ip = static_cast<unsigned long>(v);
    return 1;
  }
  if (reads() && !is_big(t)) return 0;
  return fwd::enif_get_ulong(env, t, ip);
}

extern "C" NIFSHIM_EXPORT int enif_get_double(ErlNifEnv* env, ERL_NIF_TERM t, double* dp) {
  if (!reads()) return fwd::enif_get_double(env, t, dp);
  if (!T::is_boxed(t) || *T::ptr(t) != T::kFloatHeader) return 0;
  *dp = T::float_value(t);
  return 1;
}

extern "C" NIFSHIM_EXPORT int enif_get_tuple(ErlNifEnv* env, ERL_NIF_TERM t, int* arity,
                                             const ERL_NIF_TERM** array) {
  if (!reads()) return fwd::enif_get_tuple(env, t, arity, array);
  if (!is_tuple(t)) return 0;
  const Term* p = T::ptr(t);
  *arity = static_cast<int>(T::header_arity(*p));
  *array = p + 1;
  return 1;
}

extern "C" NIFSHIM_EXPORT int enif_get_list_cell(ErlNifEnv* env, ERL_NIF_TERM t, ERL_NIF_TERM* head,
                                                 ERL_NIF_TERM* tail) {
  if (!reads()) return fwd::enif_get_list_cell(env, t, head, tail);
  if (!T::is_cons(t)) return 0;
  const Term* c = T::ptr(t);
  *head = c[0];
  *tail = c[1];
  return 1;
}

extern "C" NIFSHIM_EXPORT int enif_get_list_length(ErlNifEnv* env, ERL_NIF_TERM t, unsigned* len) {
  if (!reads()) return fwd::enif_get_list_length(env, t, len);
  std::uint64_t n = 0;
  while (T::is_cons(t)) {
    ++n;
    t = T::ptr(t)[1];
  }
  if (t != T::kNil || n > UINT_MAX) return 0;  // improper, or too long
  *len = static_cast<unsigned>(n);
  return 1;
}

// --- making terms: immediates anywhere, boxed ones on the call's heap

extern "C" NIFSHIM_EXPORT ERL_NIF_TERM enif_make_int(ErlNifEnv* env, int i) {
  return reads() ? T::make_small(i) : fwd::enif_make_int(env, i);
}

extern "C" NIFSHIM_EXPORT ERL_NIF_TERM enif_make_uint(ErlNifEnv* env, unsigned i) {
  return reads() ? T::make_small(i) : fwd::enif_make_uint(env, i);
}

extern "C" NIFSHIM_EXPORT ERL_NIF_TERM enif_make_long(ErlNifEnv* env, long i) {
  return reads() && T::fits_small(i) ? T::make_small(i) : fwd::enif_make_long(env, i);
}

extern "C" NIFSHIM_EXPORT ERL_NIF_TERM enif_make_ulong(ErlNifEnv* env, unsigned long i) {
  return reads() && i <= static_cast<unsigned long>(T::kMaxSmall) ? T::make_small(static_cast<long>(i))
                                                                  : fwd::enif_make_ulong(env, i);
}

extern "C" NIFSHIM_EXPORT ERL_NIF_TERM enif_make_double(ErlNifEnv* env, double d) {
  Term* p = reads() && std::isfinite(d) ? heap(env, 2) : nullptr;  // not finite: badarg, by the VM
  if (p == nullptr) return fwd::enif_make_double(env, d);
  p[0] = T::kFloatHeader;
  std::memcpy(p + 1, &d, sizeof d);
  return T::make_boxed(p);
}

extern "C" NIFSHIM_EXPORT ERL_NIF_TERM enif_make_atom(ErlNifEnv* env, const char* name) {
  Term t;
  const std::size_t len = std::strlen(name);
  if (reads() && cached_atom(name, len, &t)) return t;
  t = fwd::enif_make_atom(env, name);
  return reads() ? remember_atom(name, len, t) : t;
}

extern "C" NIFSHIM_EXPORT ERL_NIF_TERM enif_make_atom_len(ErlNifEnv* env, const char* name, size_t len) {
  Term t;
  if (reads() && cached_atom(name, len, &t)) return t;
  t = fwd::enif_make_atom_len(env, name, len);
  return reads() ? remember_atom(name, len, t) : t;
}

extern "C" NIFSHIM_EXPORT ERL_NIF_TERM enif_make_list_cell(ErlNifEnv* env, ERL_NIF_TERM car, ERL_NIF_TERM cdr) {
  Term* p = reads() ? heap(env, 2) : nullptr;
  if (p == nullptr) return fwd::enif_make_list_cell(env, car, cdr);
  p[0] = car;
  p[1] = cdr;
  return T::make_cons(p);
}

extern "C" NIFSHIM_EXPORT ERL_NIF_TERM enif_make_tuple_from_array(ErlNifEnv* env, const ERL_NIF_TERM arr[],
                                                                  unsigned cnt) {
  const Term t = build_tuple(env, cnt, [arr](unsigned i) { return arr[i]; });
  return t != kNotBuilt ? t : fwd::enif_make_tuple_from_array(env, arr, cnt);
}

extern "C" NIFSHIM_EXPORT ERL_NIF_TERM enif_make_list_from_array(ErlNifEnv* env, const ERL_NIF_TERM arr[],
                                                                 unsigned cnt) {
  const Term t = build_list(env, cnt, [arr](unsigned i) { return arr[i]; });
  return t != kNotBuilt ? t : fwd::enif_make_list_from_array(env, arr, cnt);
}

// --- binaries (heap, refc and sub binaries; erl_nif.c enif_is_binary,
// enif_inspect_binary, enif_make_sub_binary, enif_make_new_binary)

namespace {

// The bytes of a binary term, as erts_get_aligned_binary_bytes finds them:
// 1 with *data/*size, 0 for a bitstring that is not whole bytes, -1 when the
// VM must answer (a writable refc binary, an unaligned sub binary, not a binary).
int binary_bytes(Term t, const unsigned char** data, std::size_t* size) {
  if (!T::is_boxed(t)) return -1;
  const Term* p = T::ptr(t);
  std::size_t offs = 0;
  switch (T::header_subtag(p[0])) {
    case T::kHeapBin:
      *data = reinterpret_cast<const unsigned char*>(p + 2);
      *size = p[1];
      return 1;
    case T::kRefcBin:
      if (p[T::kProcBinFlags] != 0) return -1;  // writable: ERTS emasculates it first
      *data = reinterpret_cast<const unsigned char*>(p[T::kProcBinBytes]);
      *size = p[1];
      return 1;
    case T::kSubBin: {
      const auto* sb = reinterpret_cast<const T::SubBin*>(p);
      if (sb->bitsize != 0) return 0;
      if (sb->bitoffs != 0) return -1;  // ERTS makes an aligned copy
      offs = sb->offs;
      const Term* o = T::ptr(sb->orig);
      if (T::header_subtag(o[0]) == T::kHeapBin)
        *data = reinterpret_cast<const unsigned char*>(o + 2) + offs;
      else if (T::header_subtag(o[0]) == T::kRefcBin)
        *data = reinterpret_cast<const unsigned char*>(o[T::kProcBinBytes]) + offs;
      else
        return -1;
      *size = sb->size;
      return 1;
    }
    default:
      return -1;
  }
}

// What enif_inspect_binary leaves in *bin for bytes the worker found.
int set_binary(ErlNifBinary* bin, const unsigned char* data, std::size_t size) {
  bin->data = const_cast<unsigned char*>(data);
  bin->size = size;
  bin->ref_bin = nullptr;
  return 1;
}

}  // namespace

extern "C" NIFSHIM_EXPORT int enif_is_binary(ErlNifEnv* env, ERL_NIF_TERM t) {
  if (!reads()) return fwd::enif_is_binary(env, t);
  if (!T::is_boxed(t)) return 0;
  switch (T::boxed_subtag(t)) {
    case T::kHeapBin:
    case T::kRefcBin: return 1;
    case T::kSubBin: return reinterpret_cast<const T::SubBin*>(T::ptr(t))->bitsize % 8 == 0;
    default: return 0;
  }
}

extern "C" NIFSHIM_EXPORT int enif_inspect_binary(ErlNifEnv* env, ERL_NIF_TERM t, ErlNifBinary* bin) {
  const unsigned char* data;
  std::size_t size;
  const int r = reads() ? binary_bytes(t, &data, &size) : -1;
  if (r < 0) return fwd::enif_inspect_binary(env, t, bin);
  return r == 0 ? 0 : set_binary(bin, data, size);
}

// A binary is inspected as enif_inspect_binary does (erl_nif.c); an iolist
// goes to the VM, which flattens it.
extern "C" NIFSHIM_EXPORT int enif_inspect_iolist_as_binary(ErlNifEnv* env, ERL_NIF_TERM t, ErlNifBinary* bin) {
  const unsigned char* data;
  std::size_t size;
  if (!reads() || binary_bytes(t, &data, &size) <= 0) return fwd::enif_inspect_iolist_as_binary(env, t, bin);
  return set_binary(bin, data, size);
}

extern "C" NIFSHIM_EXPORT ERL_NIF_TERM enif_make_sub_binary(ErlNifEnv* env, ERL_NIF_TERM t, size_t pos,
                                                            size_t size) {
  if (!reads() || !T::is_boxed(t)) return fwd::enif_make_sub_binary(env, t, pos, size);
  const Term s = T::boxed_subtag(t);
  if (s != T::kHeapBin && s != T::kRefcBin && s != T::kSubBin) return fwd::enif_make_sub_binary(env, t, pos, size);
  auto* sb = reinterpret_cast<T::SubBin*>(heap(env, T::kSubBinWords));
  if (sb == nullptr) return fwd::enif_make_sub_binary(env, t, pos, size);
  Term orig = t;
  std::uint64_t offs = 0;
  std::uint8_t bitoffs = 0;
  if (s == T::kSubBin) {  // ERTS_GET_REAL_BIN
    const auto* from = reinterpret_cast<const T::SubBin*>(T::ptr(t));
    orig = from->orig;
    offs = from->offs;
    bitoffs = from->bitoffs;
  }
  sb->header = T::kSubBinHeader;
  sb->size = size;
  sb->offs = offs + pos;
  sb->orig = orig;
  sb->bitoffs = bitoffs;
  sb->bitsize = 0;
  sb->is_writable = 0;
  return T::make_boxed(reinterpret_cast<Term*>(sb));
}

extern "C" NIFSHIM_EXPORT unsigned char* enif_make_new_binary(ErlNifEnv* env, size_t size, ERL_NIF_TERM* termp) {
  // A heap binary (what new_binary makes up to 64 bytes); bigger ones are
  // refc binaries the VM allocates.
  Term* p = reads() && size <= T::kOnHeapBinLimit ? heap(env, T::heap_bin_words(size)) : nullptr;
  if (p == nullptr) return fwd::enif_make_new_binary(env, size, termp);
  p[0] = T::heap_bin_header(size);
  p[1] = size;
  *termp = T::make_boxed(p);
  return reinterpret_cast<unsigned char*>(p + 2);
}

// --- maps: flatmaps are read directly; HAMT maps (over 32 keys) go to the VM
// (erl_nif.c enif_get_map_size, enif_map_iterator_*). An iterator the VM
// made for a HAMT map stays the VM's: every later call on it is forwarded.

namespace {
inline bool is_flatmap(Term t) { return T::is_boxed(t) && T::is_flatmap_header(*T::ptr(t)); }
inline Term* flat_keys(Term m) { return const_cast<Term*>(T::ptr(T::ptr(m)[2])) + 1; }
inline Term* flat_values(Term m) { return const_cast<Term*>(T::ptr(m)) + T::kFlatmapWords; }
}  // namespace

extern "C" NIFSHIM_EXPORT int enif_get_map_size(ErlNifEnv* env, ERL_NIF_TERM t, size_t* size) {
  if (!reads() || !is_flatmap(t)) {
    if (reads() && !(T::is_boxed(t) && T::boxed_subtag(t) == T::kMap)) return 0;
    return fwd::enif_get_map_size(env, t, size);
  }
  *size = T::ptr(t)[1];
  return 1;
}

extern "C" NIFSHIM_EXPORT int enif_map_iterator_create(ErlNifEnv* env, ERL_NIF_TERM map, ErlNifMapIterator* it,
                                                       ErlNifMapIteratorEntry entry) {
  if (!reads() || !is_flatmap(map)) return fwd::enif_map_iterator_create(env, map, it, entry);
  const std::size_t size = T::ptr(map)[1];
  std::size_t offset;
  switch (entry) {
    case ERL_NIF_MAP_ITERATOR_FIRST: offset = 0; break;
    case ERL_NIF_MAP_ITERATOR_LAST: offset = size - 1; break;
    default: return 0;
  }
  it->map = map;
  it->u.flat.ks = flat_keys(map) + offset;
  it->u.flat.vs = flat_values(map) + offset;
  it->size = size;
  it->idx = offset + 1;
  return 1;
}

extern "C" NIFSHIM_EXPORT void enif_map_iterator_destroy(ErlNifEnv* env, ErlNifMapIterator* it) {
  if (!reads() || !is_flatmap(it->map)) fwd::enif_map_iterator_destroy(env, it);
}

extern "C" NIFSHIM_EXPORT int enif_map_iterator_is_head(ErlNifEnv* env, ErlNifMapIterator* it) {
  if (!reads() || !is_flatmap(it->map)) return fwd::enif_map_iterator_is_head(env, it);
  return it->size == 0 || it->idx == 0;
}

extern "C" NIFSHIM_EXPORT int enif_map_iterator_is_tail(ErlNifEnv* env, ErlNifMapIterator* it) {
  if (!reads() || !is_flatmap(it->map)) return fwd::enif_map_iterator_is_tail(env, it);
  return it->size == 0 || it->idx > it->size;
}

extern "C" NIFSHIM_EXPORT int enif_map_iterator_next(ErlNifEnv* env, ErlNifMapIterator* it) {
  if (!reads() || !is_flatmap(it->map)) return fwd::enif_map_iterator_next(env, it);
  if (it->idx <= it->size) {
    ++it->idx;
    ++it->u.flat.ks;
    ++it->u.flat.vs;
  }
  return it->idx <= it->size;
}

extern "C" NIFSHIM_EXPORT int enif_map_iterator_prev(ErlNifEnv* env, ErlNifMapIterator* it) {
  if (!reads() || !is_flatmap(it->map)) return fwd::enif_map_iterator_prev(env, it);
  if (it->idx > 0) {
    --it->idx;
    --it->u.flat.ks;
    --it->u.flat.vs;
  }
  return it->idx > 0;
}

extern "C" NIFSHIM_EXPORT int enif_map_iterator_get_pair(ErlNifEnv* env, ErlNifMapIterator* it, ERL_NIF_TERM* key,
                                                         ERL_NIF_TERM* value) {
  if (!reads() || !is_flatmap(it->map)) return fwd::enif_map_iterator_get_pair(env, it, key, value);
  if (it->idx == 0 || it->idx > it->size) return 0;
  *key = *it->u.flat.ks;
  *value = *it->u.flat.vs;
  return 1;
}
