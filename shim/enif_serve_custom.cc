// The requests that carry function pointers or file descriptors
// (ENIF_CUSTOM in abi/enif_api.def), and the worker's private requests.
// Slot layouts: abi/custom_abi.h.
#include <erl_nif.h>

#include <atomic>
#include <mutex>
#include <unordered_map>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "copy_mode.h"
#include "custom_abi.h"
#include "enif_serve.h"
#include "error_terms.h"
#include "log.h"
#include "nif_library.h"
#include "real_enif.h"
#include "resource_abi.h"
#include "slot_codec.h"
#include "worker_process.h"

namespace nifshim {
namespace {

using abi::decode;

template <typename F>
F real_fn(abi::ApiId id) {
  return reinterpret_cast<F>(real_enif_fn(id));
}

// The worker's callbacks become closures that call back into it.
// During a restart, load opens its types again: the VM keeps the ones it has
// (a type can only be created while the module loads) and their closures now
// call the new worker's functions.
std::uint64_t rebind_resource_type(NifLibrary* lib, const std::uint64_t* s, std::uint64_t* tried_out) {
  const char* name = decode<const char*>(s[abi::rt::kName]);
  *tried_out = s[abi::rt::kFlags];
  for (ResourceTypeRecord& r : lib->types) {
    if (std::strcmp(r.name, name) != 0) continue;
    const int slots[4] = {abi::rt::kDtor, abi::rt::kStop, abi::rt::kDown, abi::rt::kDyncall};
    for (int k = 0; k < 4; ++k)
      if (r.callbacks[k] != nullptr) r.callbacks[k]->fn = s[slots[k]];
    return reinterpret_cast<std::uint64_t>(r.type);
  }
  log_error("%s: after a restart, load opened resource type %s it did not open before", lib->path, name);
  return 0;
}

std::uint64_t open_resource_type(NifLibrary* lib, abi::ApiId id, const std::uint64_t* s,
                                 std::uint64_t* tried_out) {
  if (lib->restarting) return rebind_resource_type(lib, s, tried_out);
  Binding* bindings[4] = {};
  auto cb = [&](abi::CallbackKind k, int slot) -> void* {
    return s[slot] ? lib->callback_closure(static_cast<int>(k), s[slot], &bindings[int(k)]) : nullptr;
  };
  ErlNifResourceTypeInit init{};
  init.dtor = reinterpret_cast<ErlNifResourceDtor*>(cb(abi::CallbackKind::kDtor, abi::rt::kDtor));
  // Every type has a destructor: the shim counts the live worker's objects
  // (nifshim:workers()); in copy mode the worker frees its object when the
  // VM's goes, dtor or not. A destructor bound to no function (fn 0) makes
  // no call to the worker in preload mode.
  if (init.dtor == nullptr)
    init.dtor = reinterpret_cast<ErlNifResourceDtor*>(
        lib->callback_closure(static_cast<int>(abi::CallbackKind::kDtor), 0, &bindings[0]));
  init.stop = reinterpret_cast<ErlNifResourceStop*>(cb(abi::CallbackKind::kStop, abi::rt::kStop));
  init.down = reinterpret_cast<ErlNifResourceDown*>(cb(abi::CallbackKind::kDown, abi::rt::kDown));
  init.dyncall =
      reinterpret_cast<ErlNifResourceDynCall*>(cb(abi::CallbackKind::kDyncall, abi::rt::kDyncall));
  init.members = static_cast<int>(s[abi::rt::kMembers]);
  auto env = decode<ErlNifEnv*>(s[abi::rt::kEnv]);
  auto name = decode<const char*>(s[abi::rt::kName]);
  auto flags = static_cast<ErlNifResourceFlags>(s[abi::rt::kFlags]);
  ErlNifResourceFlags tried{};
  ErlNifResourceFlags* tp = s[abi::rt::kHasTried] ? &tried : nullptr;
  ErlNifResourceType* t = nullptr;
  switch (id) {
    case abi::ApiId::enif_open_resource_type:
      t = real_fn<decltype(&enif_open_resource_type)>(id)(env, nullptr, name, init.dtor, flags, tp);
      break;
    case abi::ApiId::enif_open_resource_type_x:
      t = real_fn<decltype(&enif_open_resource_type_x)>(id)(env, name, &init, flags, tp);
      break;
    default:
      t = real_fn<decltype(&enif_init_resource_type)>(id)(env, name, &init, flags, tp);
      break;
  }
  *tried_out = static_cast<std::uint64_t>(tried);
  if (t != nullptr && name != nullptr) {
    ResourceTypeRecord r{};
    std::snprintf(r.name, sizeof r.name, "%s", name);
    r.type = t;
    for (int k = 0; k < 4; ++k) r.callbacks[k] = bindings[k];
    lib->types.push_back(r);
  }
  return reinterpret_cast<std::uint64_t>(t);
}

// Resource objects carry the hidden header (abi/resource_abi.h).
// Answers with the NIF's object (in copy mode the worker's, given in kA2).
std::uint64_t alloc_resource(NifLibrary* lib, const std::uint64_t* s) {
  auto type = decode<ErlNifResourceType*>(s[abi::res::kA0]);
  auto size = static_cast<std::size_t>(s[abi::res::kA1]);
  const bool copying = copy_mode();
  void* raw = real_fn<decltype(&enif_alloc_resource)>(abi::ApiId::enif_alloc_resource)(
      type, abi::kResourceHeaderSize + (copying ? sizeof(abi::CopyHeader) : size));
  if (raw == nullptr) return 0;
  lib->resources.fetch_add(1, std::memory_order_relaxed);
  *static_cast<abi::ResourceHeader*>(raw) = abi::ResourceHeader{
      abi::kResourceMagic, lib->generation.load(), reinterpret_cast<std::uint64_t>(lib)};
  if (copying) {
    auto* mine = decode<char*>(s[abi::res::kA2]);
    *reinterpret_cast<abi::CopyHeader*>(static_cast<char*>(raw) + abi::kResourceHeaderSize) =
        abi::CopyHeader{reinterpret_cast<std::uint64_t>(mine), size};
    *reinterpret_cast<abi::CopyHeader*>(mine - abi::kResourceHeaderSize) =
        abi::CopyHeader{reinterpret_cast<std::uint64_t>(raw), size};
  }
  return reinterpret_cast<std::uint64_t>(abi::worker_object(raw, copying));
}

// Bytes a NIF made a resource binary of that lie outside the window, copied
// into VM memory (in the window) and kept as long as their object: freed by
// the object's destructor (nif_library.cc), whichever worker made it.
std::mutex g_copies_mu;
std::unordered_multimap<void*, void*>& g_copies = *new std::unordered_multimap<void*, void*>;  // never destroyed
std::atomic<std::size_t> g_copies_n{0};

std::uint64_t make_resource_binary(const std::uint64_t* s) {
  auto env = decode<ErlNifEnv*>(s[abi::rbin::kEnv]);
  void* raw = decode<void*>(s[abi::rbin::kObj]);
  const void* data = decode<const void*>(s[abi::rbin::kData]);
  const auto size = static_cast<std::size_t>(s[abi::rbin::kSize]);
  if (s[abi::rbin::kCopied] != 0) {
    void* mine = real().alloc(size);
    if (mine == nullptr) return real_fn<decltype(&enif_make_badarg)>(abi::ApiId::enif_make_badarg)(env);
    std::memcpy(mine, data, size);
    std::lock_guard<std::mutex> g(g_copies_mu);
    g_copies.emplace(raw, mine);
    g_copies_n.fetch_add(1, std::memory_order_release);
    data = mine;
  }
  return real_fn<decltype(&enif_make_resource_binary)>(abi::ApiId::enif_make_resource_binary)(env, raw, data, size);
}

// A dead worker's object is refused as a wrong type would be.
std::uint64_t get_resource(const std::uint64_t* s, std::uint64_t* obj_out) {
  void* raw = nullptr;
  int ok = real_fn<decltype(&enif_get_resource)>(abi::ApiId::enif_get_resource)(
      decode<ErlNifEnv*>(s[0]), static_cast<ERL_NIF_TERM>(s[1]), decode<ErlNifResourceType*>(s[2]), &raw);
  if (ok && resource_owner_if_current(raw) == nullptr) ok = 0;
  *obj_out = ok ? reinterpret_cast<std::uint64_t>(abi::worker_object(raw, copy_mode())) : 0;
  return static_cast<std::uint64_t>(ok);
}

std::uint64_t schedule_nif(NifLibrary* lib, const std::uint64_t* s) {
  auto env = decode<ErlNifEnv*>(s[abi::sched::kEnv]);
  auto name = decode<const char*>(s[abi::sched::kName]);
  void* code = lib->scheduled_closure(s[abi::sched::kFn], name);
  if (code == nullptr)
    return raise_error(env, "closure_failed", {err_string("library", lib->path), err_atom("function", name)});
  using Fptr = ERL_NIF_TERM (*)(ErlNifEnv*, int, const ERL_NIF_TERM[]);
  return real_fn<decltype(&enif_schedule_nif)>(abi::ApiId::enif_schedule_nif)(
      env, name, static_cast<int>(s[abi::sched::kFlags]), reinterpret_cast<Fptr>(code),
      static_cast<int>(s[abi::sched::kArgc]), decode<const ERL_NIF_TERM*>(s[abi::sched::kArgv]));
}

// The worker's descriptor becomes the VM's copy of it.
std::uint64_t select(Worker* w, abi::ApiId id, const std::uint64_t* s) {
  int wfd = static_cast<int>(static_cast<std::int64_t>(s[abi::sel::kWorkerFd]));
  int vfd = wfd < 0 ? wfd : w->vm_fd_for(static_cast<std::uint32_t>(s[abi::sel::kFdToken]));
  if (wfd >= 0 && vfd < 0) {
    log_error("worker for %s: enif_select on fd %d, which the VM does not have", w->name(), wfd);
    return static_cast<std::uint64_t>(static_cast<std::int64_t>(ERL_NIF_SELECT_INVALID_EVENT));
  }
  auto env = decode<ErlNifEnv*>(s[abi::sel::kEnv]);
  auto mode = static_cast<enum ErlNifSelectFlags>(s[abi::sel::kMode]);
  void* obj = decode<void*>(s[abi::sel::kObj]);
  auto pid = decode<const ErlNifPid*>(s[abi::sel::kPid]);
  auto term = static_cast<ERL_NIF_TERM>(s[abi::sel::kRefOrMsg]);
  int r;
  if (id == abi::ApiId::enif_select)
    r = real_fn<decltype(&enif_select)>(id)(env, vfd, mode, obj, pid, term);
  else
    r = real_fn<decltype(&enif_select_x)>(id)(env, vfd, mode, obj, pid, term,
                                               decode<ErlNifEnv*>(s[abi::sel::kMsgEnv]));
  if (r >= 0 && vfd >= 0 && (mode & ERL_NIF_SELECT_STOP) == 0) w->note_selected(vfd, obj);
  return static_cast<std::uint64_t>(static_cast<std::int64_t>(r));
}

#if NIFSHIM_NIF_MINOR >= 17
// enif_set_option. A callback becomes a closure of the library (made once:
// the VM refuses a second one) that runs the worker's function. After a
// restart the module is loaded already (the VM refuses options now): the
// closures are rebound to the new worker's functions and the answer is what
// the first load got.
std::uint64_t set_option(NifLibrary* lib, const std::uint64_t* s) {
  auto env = decode<ErlNifEnv*>(s[abi::opt::kEnv]);
  auto opt = static_cast<ErlNifOption>(s[abi::opt::kOption]);
  const std::uint64_t fn = s[abi::opt::kCallback];
  auto real_set = real_fn<int (*)(ErlNifEnv*, ErlNifOption, ...)>(abi::ApiId::enif_set_option);
  const bool with_callback = opt == ERL_NIF_OPT_ON_HALT || opt == ERL_NIF_OPT_ON_UNLOAD_THREAD;
  Binding** slot = opt == ERL_NIF_OPT_ON_HALT ? &lib->on_halt : &lib->on_unload_thread;
  if (lib->restarting) {
    if (opt == ERL_NIF_OPT_DELAY_HALT && lib->delay_halt) return 0;
    if (with_callback && fn != 0 && *slot != nullptr) {
      (*slot)->fn = fn;
      return 0;
    }
    log_error("%s: after a restart, load set option %d it did not set before: refused", lib->path, int(opt));
    return EINVAL;
  }
  int r;
  if (!with_callback) {
    r = real_set(env, opt);
    if (r == 0 && opt == ERL_NIF_OPT_DELAY_HALT) lib->delay_halt = true;
  } else if (fn == 0 || *slot != nullptr) {
    r = real_set(env, opt, nullptr);  // EINVAL, as ERTS answers
  } else {
    Binding* b = nullptr;
    const auto kind = opt == ERL_NIF_OPT_ON_HALT ? abi::CallbackKind::kOnHalt : abi::CallbackKind::kOnUnloadThread;
    void* code = lib->option_closure(static_cast<int>(kind), fn, &b);
    if (code == nullptr) {
      log_error("%s: enif_set_option: no closure for the callback", lib->path);
      return ENOMEM;
    }
    r = real_set(env, opt, code);
    if (r == 0) *slot = b;
  }
  return static_cast<std::uint64_t>(static_cast<std::int64_t>(r));
}
#endif

}  // namespace

namespace {

std::atomic<std::size_t> g_off_heap_at{0};

// The probe env's phony process holds the probe's refc binary alone: its
// off-heap list is the one word pair {that ProcBin, 100 / 8}.
void find_off_heap(const unsigned char* proc, ERL_NIF_TERM refc_bin) {
  constexpr std::size_t kScan = 2048;  // as the worker scans
  const auto pb = refc_bin & ~std::uint64_t{3};
  std::size_t found = 0;
  int n = 0;
  for (std::size_t at = 8; at + 16 <= kScan; at += 8) {
    std::uint64_t w[2];
    std::memcpy(w, proc + at, sizeof w);
    if (w[0] == pb && w[1] == 100 / 8) found = at, ++n;
  }
  // Not found: a runtime whose process layout the direct path does not know
  // (OTP 26+); there it makes no off-heap terms, so none are to be repaired.
  if (n == 1) g_off_heap_at.store(found, std::memory_order_release);
  else log_debug("the term probe's off-heap list was not found (%d candidates): no off-heap repair", n);
}

// Terms built by the VM's own enif functions in an env that lives forever,
// listed in enif_alloc memory (in the window): the worker checks its readers
// and builders against them.
std::uint64_t probe_terms(std::uint64_t* extra) {
  static ERL_NIF_TERM* t = [] {
    using namespace abi::probe;
    const RealEnif& e = real();
    ErlNifEnv* env = e.alloc_env();
    auto* a = static_cast<ERL_NIF_TERM*>(e.alloc(sizeof(ERL_NIF_TERM) * kCount));
    if (a == nullptr) return a;
    a[kMinus5] = e.make_int(env, -5);
    a[kMaxSmall] = e.make_long(env, (1L << 59) - 1);
    a[kMaxSmallPlus1] = e.make_long(env, 1L << 59);
    a[kDouble] = e.make_double(env, 2.5);
    a[kAtomOk] = e.make_atom(env, "ok");
    ERL_NIF_TERM two[2] = {a[kMinus5], a[kAtomOk]};
    a[kTuple] = e.make_tuple_from_array(env, two, 2);
    a[kCell] = e.make_list_cell(env, a[kMinus5], e.make_list_from_array(env, nullptr, 0));
    a[kNil] = e.make_list_from_array(env, nullptr, 0);
    a[kEmptyTuple] = e.make_tuple_from_array(env, nullptr, 0);
    a[kUlongMax] = e.make_ulong(env, ~0UL);
    a[kList2] = e.make_list_from_array(env, two, 2);
    a[kAtomOkLen] = e.make_atom_len(env, "ok", 2);
    a[kMap] = e.make_new_map(env);
    a[kRef] = e.make_ref(env);
    unsigned char* p = e.make_new_binary(env, 3, &a[kHeapBin]);
    p[0] = 1, p[1] = 2, p[2] = 3;
    ErlNifBinary b;
    e.alloc_binary(100, &b);
    for (int i = 0; i < 100; ++i) b.data[i] = static_cast<unsigned char>(i);
    a[kRefcBin] = e.make_binary(env, &b);
    a[kSubBin] = e.make_sub_binary(env, a[kRefcBin], 10, 20);
    a[kSubOfHeap] = e.make_sub_binary(env, a[kHeapBin], 1, 2);
    ERL_NIF_TERM vals[2] = {a[kAtomOk], a[kMinus5]};
    e.make_map_from_arrays(env, two, vals, 2, &a[kMap2]);
    ERL_NIF_TERM ks[40];
    for (int i = 0; i < 40; ++i) ks[i] = e.make_int(env, i + 1);
    e.make_map_from_arrays(env, ks, ks, 40, &a[kBigMap]);
    a[kEnvProc] = reinterpret_cast<ERL_NIF_TERM>(env_head(env)->proc);
    find_off_heap(static_cast<const unsigned char*>(env_head(env)->proc), a[kRefcBin]);
    return a;
  }();
  *extra = t ? abi::probe::kCount : 0;
  return reinterpret_cast<std::uint64_t>(t);
}

}  // namespace

std::size_t proc_off_heap_offset() { return g_off_heap_at.load(std::memory_order_acquire); }

void free_resource_binary_copies(void* vm_obj) {
  if (g_copies_n.load(std::memory_order_acquire) == 0) return;
  std::lock_guard<std::mutex> g(g_copies_mu);
  auto [lo, hi] = g_copies.equal_range(vm_obj);
  for (auto it = lo; it != hi; ++it) {
    real().free(it->second);
    g_copies_n.fetch_sub(1, std::memory_order_release);
  }
  g_copies.erase(lo, hi);
}

std::uint64_t serve_custom(Worker* w, abi::ApiId id, std::uint64_t* s, std::uint64_t* extra) {
  NifLibrary* lib = w->owner();
  switch (id) {
    case abi::ApiId::enif_open_resource_type:
    case abi::ApiId::enif_open_resource_type_x:
    case abi::ApiId::enif_init_resource_type:
      return open_resource_type(lib, id, s, extra);
    case abi::ApiId::enif_schedule_nif:
      return schedule_nif(lib, s);
    case abi::ApiId::enif_alloc_resource:
      return alloc_resource(lib, s);
    case abi::ApiId::enif_get_resource:
      return get_resource(s, extra);
    case abi::ApiId::enif_make_resource_binary:
      return make_resource_binary(s);
    case abi::ApiId::enif_sizeof_resource:
      return real_fn<decltype(&enif_sizeof_resource)>(id)(decode<void*>(s[0])) - abi::kResourceHeaderSize;  // preload mode only
    case abi::ApiId::enif_select:
    case abi::ApiId::enif_select_x:
      return select(w, id, s);
#if NIFSHIM_NIF_MINOR >= 17
    case abi::ApiId::enif_set_option:
      return set_option(lib, s);
#endif
    case abi::ApiId::enif_system_info: {
      auto* info = decode<ErlNifSysInfo*>(s[abi::sysinfo::kBuf]);
      auto size = static_cast<std::size_t>(s[abi::sysinfo::kSize]);
      auto* strings = decode<char*>(s[abi::sysinfo::kStrings]);
      real_fn<decltype(&enif_system_info)>(id)(info, size);
      // The strings point into beam.smp: copy them where the worker can read.
      ErlNifSysInfo full{};
      real_fn<decltype(&enif_system_info)>(id)(&full, sizeof full);
      std::snprintf(strings, abi::sysinfo::kStringsSize, "%s%c%s", full.erts_version, '\0',
                    full.otp_release);
      return 0;
    }
    case abi::ApiId::priv_format_term: {
      auto buf = decode<char*>(s[abi::fmt::kBuf]);
      auto size = static_cast<std::size_t>(s[abi::fmt::kSize]);
      char dummy[1];
      const auto t = static_cast<ERL_NIF_TERM>(s[abi::fmt::kTerm]);
      const auto precision = static_cast<int>(static_cast<std::int64_t>(s[abi::fmt::kPrecision]));
      int n = precision >= 0 ? real().snprintf(buf ? buf : dummy, buf ? size : 1, "%.*T", precision, t)
                             : real().snprintf(buf ? buf : dummy, buf ? size : 1, "%T", t);
      return static_cast<std::uint64_t>(static_cast<std::int64_t>(n));
    }
    case abi::ApiId::priv_probe_terms:
      return probe_terms(extra);
    case abi::ApiId::priv_priv_data:
      return reinterpret_cast<std::uint64_t>(real().priv_data(decode<ErlNifEnv*>(s[0])));
    case abi::ApiId::priv_raise: {
      auto env = decode<ErlNifEnv*>(s[abi::raise::kEnv]);
      return raise_error(env, decode<const char*>(s[abi::raise::kKind]),
                         {err_string("library", lib ? lib->path : w->name()),
                          err_atom("function", decode<const char*>(s[abi::raise::kFunction])),
                          err_string("reason", decode<const char*>(s[abi::raise::kReason]))});
    }
    default:
      log_error("serve_custom: request %s is not custom", abi::api_name(id));
      return 0;
  }
}

}  // namespace nifshim
