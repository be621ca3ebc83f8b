// The ENIF_CUSTOM functions (they hand the VM function pointers or file
// descriptors) and the small ENIF_LOCAL ones that need the forwarding layer:
// varargs constructors, enif_priv_data, enif_thread_type; plus the worker's
// private requests (raise, %T formatting).
#include <erl_nif.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <cstddef>
#include <mutex>

#include "custom_abi.h"
#include "enif_direct.h"
#include "enif_kinds.h"
#include "export.h"
#include "local_alloc.h"
#include "hosted_library.h"
#include "log.h"
#include "raise.h"
#include "resource_abi.h"
#include "term_format.h"
#include "thread_role.h"
#include "worker_state.h"

namespace nifshim::worker {
namespace {

using kinds::carry;
using kinds::encode;

template <typename T>
std::uint64_t fn_addr(T* f) {
  return reinterpret_cast<std::uint64_t>(f);
}

ErlNifResourceType* open_type(abi::ApiId id, ErlNifEnv* env, const char* name,
                              const ErlNifResourceTypeInit* init, ErlNifResourceFlags flags,
                              ErlNifResourceFlags* tried) {
  VmRequest rq(id);
  std::uint64_t* s = rq.msg().slot;
  s[abi::rt::kEnv] = encode(env);
  s[abi::rt::kName] = name ? carry(rq, name, std::strlen(name) + 1) : 0;
  s[abi::rt::kFlags] = static_cast<std::uint64_t>(flags);
  s[abi::rt::kDtor] = fn_addr(init->dtor);
  s[abi::rt::kStop] = fn_addr(init->stop);
  s[abi::rt::kDown] = fn_addr(init->down);
  // dyncall and members exist only in the newer struct (enif_init_resource_type).
  s[abi::rt::kDyncall] = id == abi::ApiId::enif_init_resource_type ? fn_addr(init->dyncall) : 0;
  s[abi::rt::kMembers] = id == abi::ApiId::enif_init_resource_type ? std::uint64_t(init->members) : 0;
  s[abi::rt::kHasTried] = tried != nullptr;
  if (rq.failed()) return refuse<ErlNifResourceType*>(rq, id, std::make_tuple());
  std::uint64_t r = rq.send();
  if (tried) *tried = static_cast<ErlNifResourceFlags>(rq.msg().slot[1]);
  return reinterpret_cast<ErlNifResourceType*>(r);
}

int select_common(abi::ApiId id, ErlNifEnv* env, ErlNifEvent fd, enum ErlNifSelectFlags mode,
                  void* obj, const ErlNifPid* pid, ERL_NIF_TERM ref_or_msg, ErlNifEnv* msg_env) {
  // The VM polls its own copy of the descriptor: sent once (SCM_RIGHTS).
  std::uint32_t token = 0;
  if (fd >= 0 && (token = selected_fd_token(fd)) == 0) {
    log_error("enif_select: cannot pass fd %d to the VM: %s", fd, std::strerror(errno));
    return ERL_NIF_SELECT_FAILED;
  }
  VmRequest rq(id);
  std::uint64_t* s = rq.msg().slot;
  s[abi::sel::kEnv] = encode(env);
  s[abi::sel::kWorkerFd] = static_cast<std::uint64_t>(fd);
  s[abi::sel::kFdToken] = token;
  s[abi::sel::kMode] = static_cast<std::uint64_t>(mode);
  s[abi::sel::kObj] = obj ? encode(abi::vm_object(obj, vm_copy_mode())) : 0;
  s[abi::sel::kPid] = carry(rq, pid, sizeof(ErlNifPid));
  s[abi::sel::kRefOrMsg] = ref_or_msg;
  s[abi::sel::kMsgEnv] = encode(msg_env);
  return static_cast<int>(rq.send());
}

}  // namespace

ERL_NIF_TERM raise_error(ErlNifEnv* env, const char* kind, const char* function,
                         const char* reason) {
  VmRequest rq(abi::ApiId::priv_raise);
  std::uint64_t* s = rq.msg().slot;
  s[abi::raise::kEnv] = encode(env);
  s[abi::raise::kKind] = carry(rq, kind, std::strlen(kind) + 1);
  s[abi::raise::kFunction] = carry(rq, function, std::strlen(function) + 1);
  s[abi::raise::kReason] = carry(rq, reason, std::strlen(reason) + 1);
  return static_cast<ERL_NIF_TERM>(rq.send());
}

int format_term(char* buf, std::size_t size, ERL_NIF_TERM term, int precision) {
  VmRequest rq(abi::ApiId::priv_format_term);
  std::uint64_t* s = rq.msg().slot;
  void* tmp = size ? rq.scratch(size) : nullptr;
  s[abi::fmt::kTerm] = term;
  s[abi::fmt::kBuf] = encode(tmp);
  s[abi::fmt::kSize] = tmp ? size : 0;
  s[abi::fmt::kPrecision] = static_cast<std::uint64_t>(static_cast<std::int64_t>(precision < 0 ? -1 : precision));
  int n = static_cast<int>(static_cast<std::int64_t>(rq.send()));
  if (tmp && size) {
    std::memcpy(buf, tmp, size);
    buf[size - 1] = '\0';
  }
  return n;
}

}  // namespace nifshim::worker

using namespace nifshim;
using namespace nifshim::worker;

// Resource types: the callbacks stay in the worker; the VM gets closures that
// call back here (shim/resource_types.cc).
extern "C" NIFSHIM_EXPORT ErlNifResourceType* enif_open_resource_type(
    ErlNifEnv* env, const char* module_str, const char* name, ErlNifResourceDtor* dtor,
    ErlNifResourceFlags flags, ErlNifResourceFlags* tried) {
  if (module_str != nullptr) return nullptr;  // as ERTS: module_str must be NULL
  ErlNifResourceTypeInit init{};
  init.dtor = dtor;
  return open_type(abi::ApiId::enif_open_resource_type, env, name, &init, flags, tried);
}

extern "C" NIFSHIM_EXPORT ErlNifResourceType* enif_open_resource_type_x(
    ErlNifEnv* env, const char* name, const ErlNifResourceTypeInit* init,
    ErlNifResourceFlags flags, ErlNifResourceFlags* tried) {
  return open_type(abi::ApiId::enif_open_resource_type_x, env, name, init, flags, tried);
}

extern "C" NIFSHIM_EXPORT ErlNifResourceType* enif_init_resource_type(
    ErlNifEnv* env, const char* name, const ErlNifResourceTypeInit* init,
    ErlNifResourceFlags flags, ErlNifResourceFlags* tried) {
  return open_type(abi::ApiId::enif_init_resource_type, env, name, init, flags, tried);
}

// The VM gets a closure that calls `fp` back in this worker.
extern "C" NIFSHIM_EXPORT ERL_NIF_TERM enif_schedule_nif(
    ErlNifEnv* env, const char* fun_name, int flags,
    ERL_NIF_TERM (*fp)(ErlNifEnv*, int, const ERL_NIF_TERM[]), int argc,
    const ERL_NIF_TERM argv[]) {
  VmRequest rq(abi::ApiId::enif_schedule_nif);
  std::uint64_t* s = rq.msg().slot;
  s[abi::sched::kEnv] = encode(env);
  s[abi::sched::kName] = fun_name ? carry(rq, fun_name, std::strlen(fun_name) + 1) : 0;
  s[abi::sched::kFlags] = static_cast<std::uint64_t>(flags);
  s[abi::sched::kFn] = reinterpret_cast<std::uint64_t>(fp);
  s[abi::sched::kArgc] = static_cast<std::uint64_t>(argc);
  s[abi::sched::kArgv] = argc > 0 ? carry(rq, argv, std::size_t(argc) * sizeof(ERL_NIF_TERM)) : 0;
  if (rq.failed()) return raise_error(env, "bad_argument", "enif_schedule_nif", rq.failed());
  return static_cast<ERL_NIF_TERM>(rq.send());
}

extern "C" NIFSHIM_EXPORT int enif_select(ErlNifEnv* env, ErlNifEvent e,
                                          enum ErlNifSelectFlags flags, void* obj,
                                          const ErlNifPid* pid, ERL_NIF_TERM ref) {
  return select_common(abi::ApiId::enif_select, env, e, flags, obj, pid, ref, nullptr);
}

extern "C" NIFSHIM_EXPORT int enif_select_x(ErlNifEnv* env, ErlNifEvent e,
                                            enum ErlNifSelectFlags flags, void* obj,
                                            const ErlNifPid* pid, ERL_NIF_TERM msg,
                                            ErlNifEnv* msg_env) {
  return select_common(abi::ApiId::enif_select_x, env, e, flags, obj, pid, msg, msg_env);
}

// The VM's version strings live in beam.smp's private memory: the worker
// keeps its own copies (made once) and points the caller's struct at them.
extern "C" NIFSHIM_EXPORT void enif_system_info(ErlNifSysInfo* sip, size_t si_size) {
  static char strings[abi::sysinfo::kStringsSize];
  VmRequest rq(abi::ApiId::enif_system_info);
  std::size_t full = si_size > sizeof(ErlNifSysInfo) ? si_size : sizeof(ErlNifSysInfo);
  void* buf = rq.scratch(full);
  void* str = rq.scratch(abi::sysinfo::kStringsSize);
  if (buf == nullptr || str == nullptr) {
    log_error("enif_system_info: no room in the channel");
    return;
  }
  std::memcpy(buf, sip, si_size);
  std::uint64_t* s = rq.msg().slot;
  s[abi::sysinfo::kBuf] = encode(buf);
  s[abi::sysinfo::kSize] = si_size;
  s[abi::sysinfo::kStrings] = encode(str);
  rq.send();
  auto* info = static_cast<ErlNifSysInfo*>(buf);
  static std::once_flag once;
  std::call_once(once, [&] { std::memcpy(strings, str, sizeof strings); });
  const std::size_t first_len = std::strlen(strings) + 1;
  if (si_size >= offsetof(ErlNifSysInfo, erts_version) + sizeof(char*))
    info->erts_version = strings;
  if (si_size >= offsetof(ErlNifSysInfo, otp_release) + sizeof(char*))
    info->otp_release = strings + first_len;
  std::memcpy(sip, info, si_size);
}

// Resource objects: the VM's object begins with the hidden header
// (abi/resource_abi.h); the NIF sees what follows it, or, in copy mode, an
// object in this worker's arena. The VM answers with the NIF's object.
extern "C" NIFSHIM_EXPORT void* enif_alloc_resource(ErlNifResourceType* type, size_t size) {
  VmRequest rq(abi::ApiId::enif_alloc_resource);
  char* mine = nullptr;
  if (vm_copy_mode()) {
    mine = static_cast<char*>(local_alloc(abi::kResourceHeaderSize + size));
    if (mine == nullptr) return nullptr;
  }
  rq.msg().slot[0] = encode(type);
  rq.msg().slot[1] = size;
  rq.msg().slot[2] = encode(mine ? mine + abi::kResourceHeaderSize : nullptr);
  void* obj = reinterpret_cast<void*>(rq.send());
  if (obj == nullptr && mine) local_free(mine);
  direct_resource_owner(obj);
  return obj;
}

extern "C" NIFSHIM_EXPORT int enif_get_resource(ErlNifEnv* env, ERL_NIF_TERM term,
                                                ErlNifResourceType* type, void** objp) {
  const int direct = direct_get_resource(term, type, objp);
  if (direct >= 0) return direct;
  VmRequest rq(abi::ApiId::enif_get_resource);
  rq.msg().slot[0] = encode(env);
  rq.msg().slot[1] = term;
  rq.msg().slot[2] = encode(type);
  int ok = static_cast<int>(rq.send());
  void* obj = reinterpret_cast<void*>(rq.msg().slot[1]);
  if (ok && objp) *objp = obj;
  direct_resource_learn(term, type, ok, obj);
  return ok;
}

// The VM's binary points at the bytes for as long as the object lives: bytes
// the VM cannot see (the NIF's static or malloc'ed data) travel as a copy,
// which the VM keeps until the object is destroyed. Binaries are immutable,
// so the copy reads as the original would.
extern "C" NIFSHIM_EXPORT ERL_NIF_TERM enif_make_resource_binary(ErlNifEnv* env, void* obj, const void* data,
                                                                 size_t size) {
  VmRequest rq(abi::ApiId::enif_make_resource_binary);
  std::uint64_t* s = rq.msg().slot;
  s[abi::rbin::kEnv] = encode(env);
  s[abi::rbin::kObj] = obj ? encode(abi::vm_object(obj, vm_copy_mode())) : 0;
  s[abi::rbin::kData] = encode(data);
  s[abi::rbin::kSize] = size;
  s[abi::rbin::kCopied] = 0;
  if (data != nullptr && size > 0 && !in_window(data)) {
    void* copy = rq.scratch(size);
    if (copy == nullptr) rq.fail("enif_make_resource_binary: no room in the window for a copy of the data");
    else {
      std::memcpy(copy, data, size);
      s[abi::rbin::kData] = encode(copy);
      s[abi::rbin::kCopied] = 1;
    }
  }
  if (rq.failed()) return refuse<ERL_NIF_TERM>(rq, abi::ApiId::enif_make_resource_binary, std::make_tuple(env));
  return static_cast<ERL_NIF_TERM>(rq.send());
}

extern "C" NIFSHIM_EXPORT size_t enif_sizeof_resource(void* obj) {
  if (vm_copy_mode())
    return static_cast<size_t>(
        reinterpret_cast<abi::CopyHeader*>(static_cast<char*>(obj) - abi::kResourceHeaderSize)->size);
  VmRequest rq(abi::ApiId::enif_sizeof_resource);
  rq.msg().slot[0] = encode(abi::vm_object(obj, false));
  return static_cast<size_t>(rq.send());
}

// Varargs constructors: the array forms do the work.
namespace {
template <ERL_NIF_TERM (*FromArray)(ErlNifEnv*, const ERL_NIF_TERM[], unsigned)>
ERL_NIF_TERM from_varargs(ErlNifEnv* env, unsigned cnt, va_list ap) {
  ERL_NIF_TERM small[16];
  auto* arr = cnt <= 16 ? small : static_cast<ERL_NIF_TERM*>(enif_alloc(cnt * sizeof(ERL_NIF_TERM)));
  for (unsigned i = 0; i < cnt; ++i) arr[i] = va_arg(ap, ERL_NIF_TERM);
  ERL_NIF_TERM t = FromArray(env, arr, cnt);
  if (arr != small) enif_free(arr);
  return t;
}
}  // namespace

// The direct path writes the arguments straight to the heap, as erl_nif.c does.
extern "C" NIFSHIM_EXPORT ERL_NIF_TERM enif_make_tuple(ErlNifEnv* env, unsigned cnt, ...) {
  va_list ap;
  va_start(ap, cnt);
  ERL_NIF_TERM t;
  if (!direct_make_tuple_va(env, cnt, ap, &t)) t = from_varargs<enif_make_tuple_from_array>(env, cnt, ap);
  va_end(ap);
  return t;
}

extern "C" NIFSHIM_EXPORT ERL_NIF_TERM enif_make_list(ErlNifEnv* env, unsigned cnt, ...) {
  va_list ap;
  va_start(ap, cnt);
  ERL_NIF_TERM t;
  if (!direct_make_list_va(env, cnt, ap, &t)) t = from_varargs<enif_make_list_from_array>(env, cnt, ap);
  va_end(ap);
  return t;
}

#if NIFSHIM_NIF_MINOR >= 17
// Options with a callback hand the VM the worker's function: the VM registers
// a closure that runs it here (shim/enif_serve_custom.cc). Only load and
// upgrade may set options; the VM checks that, as natively.
extern "C" NIFSHIM_EXPORT int enif_set_option(ErlNifEnv* env, ErlNifOption opt, ...) {
  void* fn = nullptr;
  if (opt == ERL_NIF_OPT_ON_HALT || opt == ERL_NIF_OPT_ON_UNLOAD_THREAD) {
    va_list ap;
    va_start(ap, opt);
    fn = va_arg(ap, void*);
    va_end(ap);
  }
  VmRequest rq(abi::ApiId::enif_set_option);
  std::uint64_t* s = rq.msg().slot;
  s[abi::opt::kEnv] = encode(env);
  s[abi::opt::kOption] = static_cast<std::uint64_t>(opt);
  s[abi::opt::kCallback] = reinterpret_cast<std::uint64_t>(fn);
  return static_cast<int>(static_cast<std::int64_t>(rq.send()));
}
#endif

// The priv_data of the call being run is known locally; any other env asks.
extern "C" NIFSHIM_EXPORT void* enif_priv_data(ErlNifEnv* env) {
  ThreadRole& r = thread_role();
  if (env != nullptr && env == r.env && r.priv_slot != nullptr) return *r.priv_slot;
  VmRequest rq(abi::ApiId::priv_priv_data);
  rq.msg().slot[0] = encode(env);
  return reinterpret_cast<void*>(rq.send());
}

// A worker thread serving a scheduler answers as that scheduler would;
// threads the NIF created answer ERL_NIF_THR_UNDEFINED, as natively.
extern "C" NIFSHIM_EXPORT int enif_thread_type(void) { return thread_role().thread_type; }
