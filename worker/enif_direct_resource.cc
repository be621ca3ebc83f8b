// Resource objects in place: enif_get_resource, enif_keep_resource and
// enif_release_resource (all but the last reference) without a round trip.
// A hash NIF such as crypto's hash_update looks its state up, and releases
// the new state it made, on every call: two of its six requests.
//
// ERTS keeps a resource in a magic binary (erl_nif.c, erl_binary.h): its term
// is a magic reference (or the ProcBin of a resource binary) naming that
// binary; the binary holds the reference count and a destructor, which is
// ERTS's NIF_RESOURCE_DTOR for resources; the NIF's object (after the
// ErtsResource header, whose first word is the type, and after nifshim's
// ResourceHeader) lies at a fixed distance from the binary. That distance and
// the destructor's address are not taken on trust: the worker learns them
// from the VM's own answers to forwarded enif_get_resource calls, compares
// every answer it sees (yes and no) with what it would have said, and goes
// direct after kLearnAgree answers agreed. One disagreement keeps these three
// forwarded for good, with a log line. Only with the direct term path on
// (term layout verified; never in copy mode).
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "enif_direct.h"
#include "export.h"
#include "log.h"
#include "resource_abi.h"
#include "term_layout.h"
#include "worker_state.h"

namespace nifshim::worker {
namespace {

namespace T = abi::term;
using T::Term;

struct Learned : Learning {
  std::uintptr_t distance = 0;  // the VM's object (our ResourceHeader) minus its magic binary
  std::uint64_t dtor = 0;       // a resource binary's destructor
};
Learned g_learned;

// Which library and worker generation this worker's objects carry: read from
// the header of the first object the VM allocated for it.
std::atomic<std::uint64_t> g_owner_library{0};
std::atomic<std::uint32_t> g_owner_generation{0};

// Where ErtsResource's type word lies before the object; one word off in a
// runtime laid out otherwise, as a test simulates it (run_case.sh
// direct_resources).
std::size_t type_before_data() {
  static const std::size_t n = [] {
    const char* m = std::getenv("NIFSHIM_TEST_LAYOUT_MISMATCH");
    return m && std::strcmp(m, "resource") == 0 ? T::kResourceTypeBeforeData - 8 : T::kResourceTypeBeforeData;
  }();
  return n;
}

inline bool direct() { return g_learned.state.load(std::memory_order_acquire) > 0; }

// The magic binary a term names, found as enif_get_resource finds it;
// nullptr when the term names none.
const unsigned char* magic_binary(Term t) {
  if (!T::is_boxed(t)) return nullptr;
  const Term* p = T::ptr(t);
  const unsigned char* mb;
  if (p[0] == T::kRefThingHeader) {
    if (static_cast<std::uint32_t>(p[1]) == T::kOrdinaryRefMarker) return nullptr;
    mb = reinterpret_cast<const unsigned char*>(p[1]);
    if (!in_window(mb)) return nullptr;
  } else if (T::header_subtag(p[0]) == T::kRefcBin) {
    mb = reinterpret_cast<const unsigned char*>(p[T::kProcBinVal]);
    if (!in_window(mb) || (word_at(mb, T::kBinFlagsAt) & T::kBinFlagMagic) == 0) return nullptr;
  } else {
    return nullptr;
  }
  return mb;
}

// The answer from what was learned: 1 (with the NIF's object), 0, or -1
// where only the VM can tell (an object of another library or of no worker).
int answer(const unsigned char* mb, ErlNifResourceType* type, std::uintptr_t distance, std::uint64_t dtor,
           void** objp) {
  if (mb == nullptr || word_at(mb, T::kMagicBinDestructorAt) != dtor) return 0;
  const unsigned char* raw = mb + distance;
  if (!in_window(raw - type_before_data())) return -1;
  if (word_at(raw - type_before_data(), 0) != reinterpret_cast<std::uint64_t>(type)) return 0;
  const auto* h = reinterpret_cast<const abi::ResourceHeader*>(raw);
  const std::uint64_t lib = g_owner_library.load(std::memory_order_acquire);
  if (h->magic != abi::kResourceMagic || lib == 0 || h->library != lib) return -1;
  if (h->generation != g_owner_generation.load(std::memory_order_relaxed)) return 0;  // a dead worker's
  *objp = const_cast<unsigned char*>(raw) + abi::kResourceHeaderSize;
  return 1;
}

void give_up(const char* what) {
  g_learned.state.store(-1, std::memory_order_release);
  log_error("%s: resource objects are laid out other than expected (%s): enif_get_resource, "
            "enif_keep_resource and enif_release_resource stay forwarded",
            g_worker.lib_name, what);
}

// The magic binary's reference count, for the NIF's object `obj` (ours:
// the header says so); nullptr: let the VM do it.
std::atomic<std::int64_t>* refc_of(void* obj) {
  auto* raw = static_cast<unsigned char*>(obj) - abi::kResourceHeaderSize;
  if (!in_window(raw) || reinterpret_cast<const abi::ResourceHeader*>(raw)->magic != abi::kResourceMagic)
    return nullptr;
  return reinterpret_cast<std::atomic<std::int64_t>*>(raw - g_learned.distance + T::kBinRefcAt);
}

}  // namespace

unsigned char* direct_resource_binary(void* obj) {
  if (!direct()) return nullptr;
  auto* rc = reinterpret_cast<unsigned char*>(refc_of(obj));
  return rc ? rc - T::kBinRefcAt : nullptr;
}

int direct_get_resource(ERL_NIF_TERM t, ErlNifResourceType* type, void** objp) {
  if (!direct()) return -1;
  void* obj = nullptr;
  const int r = answer(magic_binary(t), type, g_learned.distance, g_learned.dtor, &obj);
  if (r > 0 && objp) *objp = obj;
  return r;
}

void direct_resource_learn(ERL_NIF_TERM t, ErlNifResourceType* type, int vm_ok, void* vm_obj) {
  if (g_learned.state.load(std::memory_order_acquire) != 0 || !direct_enabled() ||
      g_owner_library.load(std::memory_order_acquire) == 0)
    return;
  const unsigned char* mb = magic_binary(t);
  std::lock_guard<std::mutex> g(g_learned.mu);
  if (g_learned.state.load(std::memory_order_relaxed) != 0) return;
  Learned& l = g_learned;
  if (vm_ok) {
    if (mb == nullptr) return give_up("the VM found a resource where the worker found no magic binary");
    const auto* raw = static_cast<const unsigned char*>(vm_obj) - abi::kResourceHeaderSize;
    const auto distance = static_cast<std::uintptr_t>(raw - mb);
    const std::uint64_t dtor = word_at(mb, T::kMagicBinDestructorAt);
    if (l.agreed == 0) {
      l.distance = distance;
      l.dtor = dtor;
    } else if (distance != l.distance || dtor != l.dtor) {
      return give_up("the object's distance from its binary or the destructor varies");
    }
  } else if (l.agreed == 0) {
    return;  // nothing to compare a no with yet
  }
  void* obj = nullptr;
  const int r = answer(mb, type, l.distance, l.dtor, &obj);
  if (r < 0) return;  // not this worker's object: no evidence either way
  if (r != (vm_ok ? 1 : 0) || (vm_ok && obj != vm_obj))
    return give_up(vm_ok ? "the worker would have refused a resource the VM found"
                         : "the worker would have found a resource the VM refused");
  if (vm_ok && ++l.agreed >= kLearnAgree) {
    l.state.store(1, std::memory_order_release);
    log_debug("%s: resource objects read in place (%d answers of the VM agreed)", g_worker.lib_name, l.agreed);
  }
}

void direct_resource_owner(void* obj) {
  if (g_owner_library.load(std::memory_order_relaxed) != 0 || obj == nullptr || vm_copy_mode()) return;
  const auto* h = reinterpret_cast<const abi::ResourceHeader*>(static_cast<char*>(obj) - abi::kResourceHeaderSize);
  if (!in_window(h) || h->magic != abi::kResourceMagic) return;
  g_owner_generation.store(h->generation, std::memory_order_relaxed);
  g_owner_library.store(h->library, std::memory_order_release);
}

}  // namespace nifshim::worker

using namespace nifshim::worker;

// ERTS: erts_refc_inc, no barrier.
extern "C" NIFSHIM_EXPORT void enif_keep_resource(void* obj) {
  if (direct())
    if (auto* rc = refc_of(obj)) {
      rc->fetch_add(1, std::memory_order_relaxed);
      return;
    }
  fwd::enif_keep_resource(obj);
}

// All but the last reference are dropped in place; the last goes to the VM,
// which frees the object (and has the destructor run in this worker).
extern "C" NIFSHIM_EXPORT void enif_release_resource(void* obj) {
  if (direct())
    if (auto* rc = refc_of(obj)) {
      std::int64_t v = rc->load(std::memory_order_relaxed);
      while (v > 1)
        if (rc->compare_exchange_weak(v, v - 1, std::memory_order_release, std::memory_order_relaxed)) return;
    }
  fwd::enif_release_resource(obj);
}
