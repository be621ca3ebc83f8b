// Rebuilt mode: a NIF library linked against nifshim (pkg-config --libs
// nifshim) carries a constructor (link/nifshim_link.c) that calls
// nifshim_rebuilt_attach when the library is loaded. In a plain beam.smp
// (no LD_PRELOAD) the library is isolated here, inside ERTS's own dlopen:
// a worker loads the same file, the library's entry is rewritten in place
// into the proxy entry (so the nif_init ERTS calls next returns it), and the
// library's own constructors and destructors are switched off in the VM.
// Everywhere else -- the worker, other programs, a VM with the preload (which
// isolates the library before it is ever mapped) -- attach does nothing.
#include <dlfcn.h>
#include <elf.h>
#include <erl_nif.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <cstring>

#include "export.h"
#include "log.h"
#include "nif_library.h"
#include "policy.h"
#include "shim_state.h"
#include "window_abi.h"

namespace nifshim {
namespace {

void nothing() {}

struct Arrays {
  std::uintptr_t code;  // an address inside the object
  std::uintptr_t init = 0, fini = 0;
  std::size_t init_n = 0, fini_n = 0;
  bool found = false;
};

int find_arrays(dl_phdr_info* info, size_t, void* arg) {
  auto* a = static_cast<Arrays*>(arg);
  const ElfW(Phdr)* dyn = nullptr;
  bool mine = false;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_DYNAMIC) dyn = &ph;
    if (ph.p_type == PT_LOAD && a->code >= info->dlpi_addr + ph.p_vaddr &&
        a->code < info->dlpi_addr + ph.p_vaddr + ph.p_memsz)
      mine = true;
  }
  if (!mine || dyn == nullptr) return 0;
  for (auto* d = reinterpret_cast<const ElfW(Dyn)*>(info->dlpi_addr + dyn->p_vaddr); d->d_tag != DT_NULL; ++d) {
    switch (d->d_tag) {
      case DT_INIT_ARRAY: a->init = info->dlpi_addr + d->d_un.d_ptr; break;
      case DT_FINI_ARRAY: a->fini = info->dlpi_addr + d->d_un.d_ptr; break;
      case DT_INIT_ARRAYSZ: a->init_n = d->d_un.d_val / sizeof(void*); break;
      case DT_FINI_ARRAYSZ: a->fini_n = d->d_un.d_val / sizeof(void*); break;
      default: break;
    }
  }
  a->found = true;
  return 1;
}

// Replaces every entry but `keep` with a function that does nothing. The
// arrays are read-only after relocation (RELRO): opened up for the write.
void silence(std::uintptr_t at, std::size_t n, void* keep) {
  if (at == 0 || n == 0) return;
  const long page = sysconf(_SC_PAGESIZE);
  auto lo = at & ~std::uintptr_t(page - 1);
  std::size_t len = at + n * sizeof(void*) - lo;
  if (mprotect(reinterpret_cast<void*>(lo), len, PROT_READ | PROT_WRITE) != 0) {
    log_error("rebuilt library: cannot switch its constructors off: %s", std::strerror(errno));
    return;
  }
  auto** fns = reinterpret_cast<void**>(at);
  for (std::size_t i = 0; i < n; ++i)
    if (fns[i] != keep) fns[i] = reinterpret_cast<void*>(&nothing);
  mprotect(reinterpret_cast<void*>(lo), len, PROT_READ);
}

// The library's code must not run in the VM: its remaining constructors (the
// ones before ours have run: C runtime bookkeeping) and its destructors.
void switch_off_own_code(void* self) {
  Arrays a{reinterpret_cast<std::uintptr_t>(self)};
  dl_iterate_phdr(find_arrays, &a);
  if (!a.found) {
    log_error("rebuilt library: cannot find its own ELF object");
    return;
  }
  silence(a.init, a.init_n, self);
  silence(a.fini, a.fini_n, nullptr);
}

// ERTS checks the entry and copies it: the proxy's fields, in the layout of
// the NIF version the library was built for.
void rewrite_entry(ErlNifEntry* e, const ErlNifEntry& proxy) {
  const int major = e->major, minor = e->minor;
  auto at_least = [&](int mj, int mn) { return major > mj || (major == mj && minor >= mn); };
  e->name = proxy.name;
  e->num_of_funcs = proxy.num_of_funcs;
  e->funcs = proxy.funcs;
  e->load = proxy.load;
  e->reload = nullptr;
  e->upgrade = proxy.upgrade;
  e->unload = proxy.unload;
  if (at_least(2, 1)) e->vm_variant = proxy.vm_variant;
  if (at_least(2, 7)) e->options = proxy.options;
  if (at_least(2, 12)) e->sizeof_ErlNifResourceTypeInit = proxy.sizeof_ErlNifResourceTypeInit;
  if (at_least(2, 14)) e->min_erts = proxy.min_erts;
}

// An isolation that failed must not fall back to running the library in the
// VM: its load fails (ERTS: {error, {load, ...}}) and the log says why.
int refuse_load(ErlNifEnv*, void**, ERL_NIF_TERM) { return -1; }

void refuse(ErlNifEntry* e) {
  e->load = refuse_load;
  e->upgrade = nullptr;
  e->unload = nullptr;
  e->num_of_funcs = 0;  // none of its functions is bound
}

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

}  // namespace
}  // namespace nifshim

using namespace nifshim;

// Called by a rebuilt library's constructor, once per load of it. `init` is
// its nif_init (null if it has none: not a NIF), `self` the constructor.
// Returns 1 if the library is isolated, 0 if it runs where it is.
extern "C" NIFSHIM_EXPORT int nifshim_rebuilt_attach(ErlNifEntry* (*init)(void), void* self) {
  if (!g_shim.is_beam || g_shim.preloaded || init == nullptr) return 0;
  Dl_info info{};
  if (dladdr(self, &info) == 0 || info.dli_fname == nullptr) {
    log_error("rebuilt library at %p: cannot tell its path; it runs in the VM", self);
    return 0;
  }
  char path[PATH_MAX];
  if (realpath(info.dli_fname, path) == nullptr) std::snprintf(path, sizeof path, "%s", info.dli_fname);
  if (env_set(abi::kEnvDisable) || !policy_isolates(path)) {
    log_debug("%s: not isolated (policy); it runs in the VM", path);
    return 0;
  }
  ErlNifEntry* e = init();
  if (e == nullptr) return 0;  // ERTS reports "Library init-call unsuccessful"
  switch_off_own_code(self);
  char err[1024] = "nifshim: cannot create the shared window";
  NifLibrary* lib = start_copy_mode() ? open_isolated(path, false, err, sizeof err) : nullptr;
  if (lib == nullptr || lib->init_returns_null) {
    log_error("cannot isolate rebuilt library %s: %s; its load fails", path,
              lib ? "its nif_init returned NULL in the worker" : err);
    refuse(e);
    return 0;
  }
  rewrite_entry(e, lib->entry);
  return 1;
}
