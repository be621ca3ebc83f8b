// Opening an isolated NIF library: start its worker, load the real library
// there, build the proxy entry, load the proxy stub. See nif_library.h.
#include "nif_library.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <string>
#include <sys/mman.h>
#include <unistd.h>

#include "channel_abi.h"
#include "control_abi.h"
#include "copy_mode.h"
#include "enif_serve.h"
#include "error_terms.h"
#include "export.h"
#include "log.h"
#include "policy.h"
#include "real_dl.h"
#include "real_enif.h"
#include "resource_abi.h"
#include "shim_state.h"
#include "vm_exchange.h"
#include "worker_process.h"

namespace nifshim {
namespace {

// Open libraries. Never destroyed: the VM's exit runs the proxy stubs'
// destructors after static destructors, and closures may outlive a library.
std::mutex g_libs_mu;
std::vector<NifLibrary*>& g_libs = *new std::vector<NifLibrary*>;

// Every library ever opened, append-only, for lock-free identity checks.
constexpr int kMaxKnown = 4096;
std::atomic<NifLibrary*> g_known[kMaxKnown];
std::atomic<int> g_known_n{0};

void remember(NifLibrary* lib) {
  int i = g_known_n.load();
  if (i >= kMaxKnown) {
    log_error("more than %d isolated libraries opened: resources of %s are not checked", kMaxKnown, lib->path);
    return;
  }
  g_known[i].store(lib, std::memory_order_relaxed);
  g_known_n.store(i + 1, std::memory_order_release);  // opens are serialised by the loader
}

constexpr std::size_t kMaxFuncs = 4096;
constexpr std::size_t kLoadBufferSize =
    sizeof(abi::LoadBuffer) + (kMaxFuncs - 1) * sizeof(abi::FuncWire);

char* keep(NifLibrary* lib, const char* s) {
  char* c = strdup(s);
  lib->strings.push_back(c);
  return c;
}

// --- closure handlers: the VM calls these through the proxy entry.

void on_nif_call(ffi_cif*, void* ret, void** args, void* user) {
  auto* b = static_cast<Binding*>(user);
  auto* env = *static_cast<ErlNifEnv**>(args[0]);
  // A continuation (enif_schedule_nif) of a worker that has died since: its
  // function pointer means nothing to the new worker.
  if (b->fn >= abi::kMaxFuncIndex && b->generation != b->lib->generation.load()) {
    *static_cast<ffi_arg*>(ret) =
        raise_error(env, "worker_restarted", {err_string("library", b->lib->path), err_atom("function", b->name)});
    return;
  }
  *static_cast<ffi_arg*>(ret) = call_nif(b->lib, b->fn, b->name, env, *static_cast<int*>(args[1]),
                                         *static_cast<const ERL_NIF_TERM**>(args[2]), &b->built_on_heap);
}

void on_load(ffi_cif*, void* ret, void** args, void* user) {
  auto* lib = static_cast<Binding*>(user)->lib;
  auto* env = *static_cast<ErlNifEnv**>(args[0]);
  auto** priv = *static_cast<void***>(args[1]);
  const ERL_NIF_TERM info = *static_cast<ERL_NIF_TERM*>(args[2]);
  if (lib->info_env == nullptr) {  // kept for restarts: load runs again with it
    lib->info_env = real().alloc_env();
    lib->load_info = real().make_copy(lib->info_env, info);
  }
  std::uint64_t in[3] = {reinterpret_cast<std::uint64_t>(env), 0, info};
  std::uint64_t out[3] = {};
  int rc = -1;
  if (call_load(lib->worker, abi::LoadKind::kLoad, in, 3, out)) {
    rc = static_cast<int>(out[0]);
    *priv = reinterpret_cast<void*>(out[1]);
  } else {
    log_error("load of %s failed: its worker %s", lib->name, lib->worker->death());
  }
  *static_cast<ffi_sarg*>(ret) = rc;
}

void on_upgrade(ffi_cif*, void* ret, void** args, void* user) {
  auto* lib = static_cast<Binding*>(user)->lib;
  auto* env = *static_cast<ErlNifEnv**>(args[0]);
  auto** priv = *static_cast<void***>(args[1]);
  auto** old_priv = *static_cast<void***>(args[2]);
  ERL_NIF_TERM error;
  if (!ensure_worker(lib, env, "upgrade", &error)) {
    *static_cast<ffi_sarg*>(ret) = -1;
    return;
  }
  void* old = lib->priv_overridden ? lib->priv : *old_priv;
  std::uint64_t in[3] = {reinterpret_cast<std::uint64_t>(env), reinterpret_cast<std::uint64_t>(old),
                         *static_cast<ERL_NIF_TERM*>(args[3])};
  std::uint64_t out[3] = {};
  int rc = -1;
  if (call_load(lib->worker, abi::LoadKind::kUpgrade, in, 3, out)) {
    rc = static_cast<int>(out[0]);
    *priv = reinterpret_cast<void*>(out[1]);
    *old_priv = reinterpret_cast<void*>(out[2]);
    lib->priv = *priv;
  }
  *static_cast<ffi_sarg*>(ret) = rc;
}

void on_unload(ffi_cif*, void*, void** args, void* user) {
  auto* lib = static_cast<Binding*>(user)->lib;
  void* priv = lib->priv_overridden ? lib->priv : *static_cast<void**>(args[1]);
  std::uint64_t in[2] = {reinterpret_cast<std::uint64_t>(*static_cast<ErlNifEnv**>(args[0])),
                         reinterpret_cast<std::uint64_t>(priv)};
  std::uint64_t out[3];
  // A dead worker has nothing to unload: the module goes regardless.
  if (lib->worker->alive()) call_load(lib->worker, abi::LoadKind::kUnload, in, 2, out);
}

void on_callback(ffi_cif*, void*, void** args, void* user) {
  auto* b = static_cast<Binding*>(user);
  auto* env = *static_cast<ErlNifEnv**>(args[0]);
  void* raw = *static_cast<void**>(args[1]);
  if (static_cast<abi::CallbackKind>(b->kind) == abi::CallbackKind::kDtor) free_resource_binary_copies(raw);
  // A dead worker's object never reaches the new worker's code; the VM's
  // copy of a descriptor it selected is closed (Worker::stop_selected).
  if (resource_owner_if_current(raw) == nullptr) {
    log_debug("%s: callback for a resource of a dead worker skipped", b->lib->name);
    if (static_cast<abi::CallbackKind>(b->kind) == abi::CallbackKind::kStop)
      Worker::forget_vm_fd_of_any(*static_cast<int*>(args[2]));
    return;
  }
  void* obj = abi::worker_object(raw, copy_mode());
  Worker* w = b->lib->worker;
  switch (static_cast<abi::CallbackKind>(b->kind)) {
    case abi::CallbackKind::kDtor:
      b->lib->resources.fetch_sub(1, std::memory_order_relaxed);
      if (b->fn != 0 || copy_mode()) call_callback(w, abi::CallbackKind::kDtor, b->fn, env, obj, 0, 0);
      break;
    case abi::CallbackKind::kStop: {
      int vm_fd = *static_cast<int*>(args[2]);
      int wfd = w->worker_fd_for(vm_fd);
      call_callback(w, abi::CallbackKind::kStop, b->fn, env, obj, static_cast<std::uint64_t>(wfd),
                    static_cast<std::uint64_t>(*static_cast<int*>(args[3])));
      w->forget_vm_fd(vm_fd);  // the NIF closes its own; the VM's copy goes too
      break;
    }
    case abi::CallbackKind::kDown:
      call_callback(w, abi::CallbackKind::kDown, b->fn, env, obj, 0, 0,
                    *static_cast<ErlNifPid**>(args[2]), sizeof(ErlNifPid),
                    *static_cast<ErlNifMonitor**>(args[3]), sizeof(ErlNifMonitor));
      break;
    case abi::CallbackKind::kDyncall:
      call_callback(w, abi::CallbackKind::kDyncall, b->fn, env, obj,
                    reinterpret_cast<std::uint64_t>(*static_cast<void**>(args[2])), 0);
      break;
    case abi::CallbackKind::kOnHalt:  // option_closure's, not a resource's
    case abi::CallbackKind::kOnUnloadThread:
      break;
  }
}

// enif_set_option's callbacks: the VM passes its priv_data (what load
// returned; after a restart the new worker's). The worker runs the NIF's
// callback on the thread paired with the calling VM thread; on halt the VM
// is still whole, and so is the worker.
void on_option_callback(ffi_cif*, void*, void** args, void* user) {
  auto* b = static_cast<Binding*>(user);
  NifLibrary* lib = b->lib;
  void* priv = lib->priv_overridden ? lib->priv : *static_cast<void**>(args[0]);
  call_callback(lib->worker, static_cast<abi::CallbackKind>(b->kind), b->fn, nullptr, priv, 0, 0);
}

Binding* bind(NifLibrary* lib, std::uint64_t fn, const char* name, int kind = 0) {
  auto b = std::make_unique<Binding>();
  b->lib = lib;
  b->fn = fn;
  b->name = name;
  b->kind = kind;
  lib->bindings.push_back(std::move(b));
  return lib->bindings.back().get();
}

void* make_closure(NifLibrary* lib, ffi_type* ret, std::initializer_list<ffi_type*> args,
                   FfiClosure::Handler h, Binding* b) {
  auto c = std::make_unique<FfiClosure>(ret, static_cast<int>(args.size()), args.begin(), h, b);
  if (!c->ok()) return nullptr;
  void* code = c->code();
  lib->closures.push_back(std::move(c));
  return code;
}

void* nif_closure(NifLibrary* lib, Binding* b) {
  return make_closure(lib, &ffi_type_uint64, {&ffi_type_pointer, &ffi_type_sint, &ffi_type_pointer},
                      on_nif_call, b);
}

// The entry ERTS checks and keeps: the library's own version, names,
// arities and flags; closures for every function.
bool build_entry(NifLibrary* lib, const abi::LoadBuffer* buf) {
  ErlNifEntry& e = lib->entry;
  e.major = buf->major;
  e.minor = buf->minor;
  e.name = keep(lib, buf->name);
  e.num_of_funcs = static_cast<int>(buf->num_funcs);
  const bool v1 = e.major < 2 || (e.major == 2 && e.minor < 7);
  struct FuncV1 { const char* name; unsigned arity; void* fptr; };
  lib->funcs.resize(buf->num_funcs);
  if (v1) lib->funcs_v1.resize(buf->num_funcs * sizeof(FuncV1));
  lib->bindings.reserve(buf->num_funcs + 8);
  for (std::uint32_t i = 0; i < buf->num_funcs; ++i) {
    const char* name = keep(lib, buf->funcs[i].name);
    void* code = nif_closure(lib, bind(lib, i, name));
    if (code == nullptr) return false;
    using Fptr = ERL_NIF_TERM (*)(ErlNifEnv*, int, const ERL_NIF_TERM[]);
    lib->funcs[i] = ErlNifFunc{name, buf->funcs[i].arity, reinterpret_cast<Fptr>(code), buf->funcs[i].flags};
    if (v1) reinterpret_cast<FuncV1*>(lib->funcs_v1.data())[i] = FuncV1{name, buf->funcs[i].arity, code};
  }
  e.funcs = v1 ? reinterpret_cast<ErlNifFunc*>(lib->funcs_v1.data()) : lib->funcs.data();
  Binding* self = bind(lib, 0, "load");
  if (buf->has_load)
    e.load = reinterpret_cast<decltype(e.load)>(make_closure(
        lib, &ffi_type_sint, {&ffi_type_pointer, &ffi_type_pointer, &ffi_type_uint64}, on_load, self));
  if (buf->has_upgrade)
    e.upgrade = reinterpret_cast<decltype(e.upgrade)>(make_closure(
        lib, &ffi_type_sint, {&ffi_type_pointer, &ffi_type_pointer, &ffi_type_pointer, &ffi_type_uint64},
        on_upgrade, self));
  if (buf->has_unload)
    e.unload = reinterpret_cast<decltype(e.unload)>(
        make_closure(lib, &ffi_type_void, {&ffi_type_pointer, &ffi_type_pointer}, on_unload, self));
  e.reload = nullptr;  // not called by ERTS since OTP 20
  e.vm_variant = keep(lib, buf->vm_variant);
  e.options = buf->options;
  e.sizeof_ErlNifResourceTypeInit = buf->sizeof_resource_type_init;
  e.min_erts = keep(lib, buf->min_erts);
  return (!buf->has_load || e.load) && (!buf->has_upgrade || e.upgrade) && (!buf->has_unload || e.unload);
}

// The proxy stub's bytes, read once from next to libnifshim.so.
const std::string& stub_image() {
  static const std::string& image = *new std::string([] {
    std::string s;
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&stub_image), &info) == 0 || !info.dli_fname) return s;
    std::string path = info.dli_fname;
    path = path.substr(0, path.rfind('/')) + "/nifshim_proxy_stub.so";
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return s;
    char buf[8192];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) s.append(buf, static_cast<std::size_t>(n));
    close(fd);
    return s;
  }());
  return image;
}

bool load_stub(NifLibrary* lib, char* err, std::size_t errlen) {
  const std::string& img = stub_image();
  if (img.empty()) {
    std::snprintf(err, errlen, "nifshim: nifshim_proxy_stub.so not found next to libnifshim.so");
    return false;
  }
  char memname[96];
  std::snprintf(memname, sizeof memname, "nifshim-proxy:%s", lib->name);
  lib->stub_fd = memfd_create(memname, MFD_CLOEXEC);
  if (lib->stub_fd < 0 || write(lib->stub_fd, img.data(), img.size()) != static_cast<ssize_t>(img.size())) {
    std::snprintf(err, errlen, "nifshim: cannot write the proxy stub: %s", std::strerror(errno));
    return false;
  }
  std::snprintf(lib->stub_path, sizeof lib->stub_path, "/proc/self/fd/%d", lib->stub_fd);
  {
    std::lock_guard<std::mutex> g(g_libs_mu);
    g_libs.push_back(lib);  // the stub's nif_init may be looked up as soon as it is open
    remember(lib);
  }
  lib->stub_handle = real_dlopen(lib->stub_path, RTLD_NOW | RTLD_LOCAL);
  if (lib->stub_handle == nullptr) {
    std::snprintf(err, errlen, "nifshim: cannot load the proxy stub: %s", real_dlerror());
    return false;
  }
  lib->stub_init = real_dlsym(lib->stub_handle, "nif_init");
  return lib->stub_init != nullptr;
}

void drop(NifLibrary* lib) {
  std::lock_guard<std::mutex> g(g_libs_mu);
  for (auto it = g_libs.begin(); it != g_libs.end(); ++it)
    if (*it == lib) {
      g_libs.erase(it);
      break;
    }
}

const char* base_name(const char* path, char* out, std::size_t len) {
  const char* b = std::strrchr(path, '/');
  std::snprintf(out, len, "%s", b ? b + 1 : path);
  if (char* dot = std::strstr(out, ".so")) *dot = '\0';
  return out;
}

}  // namespace

bool start_and_load(NifLibrary* lib, Worker* previous, Worker** started, abi::LoadBuffer** out, char* err,
                    std::size_t errlen) {
  *out = nullptr;
  Worker* w = *started = Worker::start(lib->path, lib->name, previous, err, errlen);
  if (w == nullptr) return false;
  w->set_owner(lib);
  w->set_report_library(lib->path);
  void* mem = g_shim.active_mapper()->map(kLoadBufferSize, PROT_READ | PROT_WRITE, 0);
  if (mem == MAP_FAILED) {
    std::snprintf(err, errlen, "nifshim: no room in the window for the load buffer");
    return false;
  }
  auto* buf = static_cast<abi::LoadBuffer*>(mem);
  std::snprintf(buf->path, sizeof buf->path, "%s", lib->path);
  *out = buf;
  if (!w->load(buf, kLoadBufferSize)) {
    std::snprintf(err, errlen, "nifshim: the worker for %s died while loading it: %s", lib->path,
                  w->death());
    return false;
  }
  return true;
}

void free_load_buffer(abi::LoadBuffer* buf) {
  if (buf) g_shim.active_mapper()->unmap(buf, kLoadBufferSize);
}

bool same_library(const NifLibrary* lib, const abi::LoadBuffer* buf) {
  if (buf->status != abi::LoadStatus::kOk || buf->num_funcs != std::uint32_t(lib->entry.num_of_funcs) ||
      std::strcmp(buf->name, lib->entry.name) != 0)
    return false;
  for (std::uint32_t i = 0; i < buf->num_funcs; ++i)
    if (std::strcmp(buf->funcs[i].name, lib->funcs[i].name) != 0 || buf->funcs[i].arity != lib->funcs[i].arity)
      return false;
  return true;
}

// Starts the worker, loads the library there and builds the proxy entry;
// with_stub: also the proxy stub the VM dlopens (preload mode). nullptr with
// err set on failure.
NifLibrary* open_isolated(const char* path, bool with_stub, char* err, std::size_t errlen) {
  if (!real_enif_init()) {
    std::snprintf(err, errlen, "nifshim: this VM lacks enif functions the shim needs");
    return nullptr;
  }
  auto* lib = new NifLibrary;
  std::snprintf(lib->path, sizeof lib->path, "%s", path);
  base_name(path, lib->name, sizeof lib->name);
  lib->deadline_ms = policy_deadline_ms(path, false);
  lib->dirty_deadline_ms = policy_deadline_ms(path, true);
  abi::LoadBuffer* buf = nullptr;
  bool answered = start_and_load(lib, nullptr, &lib->worker, &buf, err, errlen);
  if (lib->worker == nullptr) return nullptr;
  abi::LoadStatus status = buf ? buf->status : abi::LoadStatus::kDlopenFailed;
  if (!answered) {
    // err says why
  } else if (status == abi::LoadStatus::kDlopenFailed || status == abi::LoadStatus::kNoInit) {
    std::snprintf(err, errlen, "%s", buf->text);  // the real dlopen/dlsym error, as natively
  } else if (status == abi::LoadStatus::kInitReturnedNull) {
    lib->init_returns_null = true;
  } else if (!build_entry(lib, buf)) {
    std::snprintf(err, errlen, "nifshim: cannot create the closures for %s", path);
    answered = false;
  }
  free_load_buffer(buf);
  bool ok = answered && (status == abi::LoadStatus::kOk || status == abi::LoadStatus::kInitReturnedNull);
  if (ok && with_stub && !load_stub(lib, err, errlen)) {
    drop(lib);
    ok = false;
  }
  if (ok && !with_stub) {
    std::lock_guard<std::mutex> g(g_libs_mu);
    g_libs.push_back(lib);
    remember(lib);
  }
  if (!ok) {
    log_debug("isolated load of %s failed: %s", path, err);
    lib->worker->close();
    return nullptr;
  }
  log_debug("%s isolated in worker pid %d%s", path, lib->worker->pid(), with_stub ? "" : " (rebuilt, copy mode)");
  return lib;
}

void* nif_library_open(const char* path, char* err, std::size_t errlen) {
  {
    std::lock_guard<std::mutex> g(g_libs_mu);
    for (NifLibrary* l : g_libs)
      if (std::strcmp(l->path, path) == 0 && l->worker->alive() && l->stub_handle)
        return real_dlopen(l->stub_path, RTLD_NOW | RTLD_LOCAL);  // one more reference, as natively
  }
  NifLibrary* lib = open_isolated(path, true, err, errlen);
  return lib ? lib->stub_handle : nullptr;
}

void* NifLibrary::scheduled_closure(std::uint64_t fn, const char* fname) {
  std::lock_guard<std::mutex> g(mu);
  auto it = scheduled.find(fn);
  if (it != scheduled.end()) return it->second;
  Binding* b = bind(this, fn, keep(this, fname ? fname : "scheduled"));
  b->generation = generation.load();
  void* code = nif_closure(this, b);
  if (code) scheduled[fn] = code;
  return code;
}

void* NifLibrary::callback_closure(int kind, std::uint64_t fn, Binding** binding) {
  std::lock_guard<std::mutex> g(mu);
  Binding* b = bind(this, fn, "callback", kind);
  *binding = b;
  ffi_type* p = &ffi_type_pointer;
  switch (static_cast<abi::CallbackKind>(kind)) {
    case abi::CallbackKind::kDtor: return make_closure(this, &ffi_type_void, {p, p}, on_callback, b);
    case abi::CallbackKind::kStop:
      return make_closure(this, &ffi_type_void, {p, p, &ffi_type_sint, &ffi_type_sint}, on_callback, b);
    case abi::CallbackKind::kDown: return make_closure(this, &ffi_type_void, {p, p, p, p}, on_callback, b);
    case abi::CallbackKind::kDyncall: return make_closure(this, &ffi_type_void, {p, p, p}, on_callback, b);
    case abi::CallbackKind::kOnHalt:
    case abi::CallbackKind::kOnUnloadThread: break;  // option_closure
  }
  return nullptr;
}

void* NifLibrary::option_closure(int kind, std::uint64_t fn, Binding** binding) {
  std::lock_guard<std::mutex> g(mu);
  Binding* b = bind(this, fn, kind == int(abi::CallbackKind::kOnHalt) ? "on_halt" : "on_unload_thread", kind);
  *binding = b;
  return make_closure(this, &ffi_type_void, {&ffi_type_pointer}, on_option_callback, b);
}

void for_each_library(void (*fn)(NifLibrary*, void*), void* arg) {
  std::lock_guard<std::mutex> g(g_libs_mu);
  for (NifLibrary* l : g_libs) fn(l, arg);
}

NifLibrary* resource_owner_if_current(void* vm_obj) {
  auto* h = static_cast<const abi::ResourceHeader*>(vm_obj);
  if (h == nullptr || h->magic != abi::kResourceMagic) return nullptr;
  auto* lib = reinterpret_cast<NifLibrary*>(h->library);
  // Only a library this shim opened (never freed) is dereferenced; no lock:
  // this runs on every enif_get_resource and resource callback.
  const int n = g_known_n.load(std::memory_order_acquire);
  for (int i = 0; i < n; ++i)
    if (g_known[i].load(std::memory_order_relaxed) == lib)
      return lib->generation.load(std::memory_order_acquire) == h->generation && !lib->closed.load()
                 ? lib
                 : nullptr;
  return nullptr;
}

}  // namespace nifshim

using nifshim::NifLibrary;

// Called by a proxy stub copy's nif_init: the entry of the library it stands for.
extern "C" NIFSHIM_EXPORT ErlNifEntry* nifshim_proxy_entry(void* stub_init) {
  std::lock_guard<std::mutex> g(nifshim::g_libs_mu);
  for (NifLibrary* l : nifshim::g_libs)
    if (l->stub_init == stub_init) return l->init_returns_null ? nullptr : &l->entry;
  nifshim::log_error("nif_init of an unknown proxy stub at %p", stub_init);
  return nullptr;
}

// Called by a proxy stub copy's destructor: the VM dlclose'd the library for
// the last time. Runs under the dynamic linker's lock: no dl* calls here.
extern "C" NIFSHIM_EXPORT void nifshim_proxy_closed(void* stub_init) {
  NifLibrary* lib = nullptr;
  {
    std::lock_guard<std::mutex> g(nifshim::g_libs_mu);
    for (NifLibrary* l : nifshim::g_libs)
      if (l->stub_init == stub_init) lib = l;
  }
  if (lib == nullptr) return;
  nifshim::nif_library_closed(lib);
  close(lib->stub_fd);
}

namespace nifshim {

void nif_library_closed(NifLibrary* lib) {
  {
    std::lock_guard<std::mutex> g(g_libs_mu);
    for (auto it = g_libs.begin(); it != g_libs.end(); ++it)
      if (*it == lib) {
        g_libs.erase(it);
        break;
      }
  }
  lib->closed.store(true);  // its resources, if any outlive it, reach no code
  log_debug("%s closed: stopping its worker", lib->path);
  lib->worker->close();
}

}  // namespace nifshim
