// Rebuilt mode: a NIF library linked against nifshim (pkg-config --libs
// nifshim) carries a constructor (link/nifshim_link.c) that calls
// nifshim_rebuilt_attach when the library is loaded. In a plain beam.smp
// (no LD_PRELOAD) the library is isolated here, inside ERTS's own dlopen:
// - a worker loads the same file and the proxy entry is built (copy mode);
// - the library's own constructors and destructors are switched off in the
//   VM (its DT_FINI becomes a closure that stops the worker at the last
//   dlclose, as the proxy stub's destructor does in preload mode);
// - its dynamic symbol nif_init is pointed at a closure, so ERTS's
//   dlsym(handle, "nif_init") finds the shim; when ERTS calls it (dlopen has
//   returned: none of the library's code is running) the library's file
//   mappings are replaced by anonymous copies and its code by PROT_NONE
//   memory. The dynamic linker's bookkeeping (headers, symbols, .dynamic)
//   stays readable; the library's code is gone from the VM.
// Everywhere else -- the worker, other programs, a VM with the preload (which
// isolates the library before it is ever mapped) -- attach does nothing.
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <erl_nif.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "export.h"
#include "ffi_closure.h"
#include "log.h"
#include "nif_library.h"
#include "policy.h"
#include "shim_state.h"
#include "window_abi.h"

namespace nifshim {

void follow_vm_chdir_rebuilt();  // rebuilt_chdir.cc

namespace {

void nothing() {}

struct Arrays {
  std::uintptr_t code;  // an address inside the object
  std::uintptr_t init = 0, fini = 0;
  std::size_t init_n = 0, fini_n = 0;
  ElfW(Dyn)* dt_fini = nullptr;
  std::uintptr_t load_bias = 0, lo = ~std::uintptr_t{0}, hi = 0;  // page-rounded PT_LOAD span
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
  const std::uintptr_t page = std::uintptr_t(sysconf(_SC_PAGESIZE));
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    std::uintptr_t lo = (info->dlpi_addr + ph.p_vaddr) & ~(page - 1);
    std::uintptr_t hi = (info->dlpi_addr + ph.p_vaddr + ph.p_memsz + page - 1) & ~(page - 1);
    if (lo < a->lo) a->lo = lo;
    if (hi > a->hi) a->hi = hi;
  }
  a->load_bias = info->dlpi_addr;
  for (auto* d = reinterpret_cast<ElfW(Dyn)*>(info->dlpi_addr + dyn->p_vaddr); d->d_tag != DT_NULL; ++d) {
    switch (d->d_tag) {
      case DT_FINI: a->dt_fini = d; break;
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

// Writes one word of the library's read-only data (RELRO, symbol table).
bool patch_word(void* at, std::uint64_t value) {
  const std::uintptr_t page = std::uintptr_t(sysconf(_SC_PAGESIZE));
  auto lo = reinterpret_cast<std::uintptr_t>(at) & ~(page - 1);
  std::size_t len = reinterpret_cast<std::uintptr_t>(at) + sizeof value - lo;
  if (mprotect(reinterpret_cast<void*>(lo), len, PROT_READ | PROT_WRITE) != 0) return false;
  std::memcpy(at, &value, sizeof value);
  mprotect(reinterpret_cast<void*>(lo), len, PROT_READ);
  return true;
}

// The library's code must not run in the VM: its remaining constructors (the
// ones before ours have run: C runtime bookkeeping) and its destructors.
bool switch_off_own_code(void* self, Arrays* a) {
  *a = Arrays{reinterpret_cast<std::uintptr_t>(self)};
  dl_iterate_phdr(find_arrays, a);
  if (!a->found) {
    log_error("rebuilt library: cannot find its own ELF object");
    return false;
  }
  silence(a->init, a->init_n, self);
  silence(a->fini, a->fini_n, nullptr);
  return true;
}

// What the closures of a rebuilt library need.
struct Rebuilt {
  NifLibrary* lib;
  Arrays obj;
  char path[PATH_MAX];
  bool unmapped = false;
  std::unique_ptr<FfiClosure> init, fini;
};

// Replaces the library's file mappings in this process by anonymous memory:
// its code by PROT_NONE, everything else by a copy with the same protection.
// The copy is read through /proc/self/mem and moved in place with mremap: no
// user-space access to the library's memory, so a sanitizer's red zones
// around its globals are not tripped.
void drop_file_mappings(Rebuilt* r) {
  FILE* f = std::fopen("/proc/self/maps", "re");
  if (f == nullptr) return;
  struct Piece { std::uintptr_t lo, hi; int prot; };
  Piece pieces[64];
  int n = 0;
  char line[PATH_MAX + 256];
  while (n < 64 && std::fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    char perms[8];
    if (std::sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) != 3) continue;
    if (lo < r->obj.lo || hi > r->obj.hi) continue;
    int prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0);
    pieces[n++] = Piece{lo, hi, perms[2] == 'x' ? -1 : prot};
  }
  std::fclose(f);
  const int mem = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
  int replaced = 0;
  for (int i = 0; i < n; ++i) {
    const Piece& p = pieces[i];
    const std::size_t len = p.hi - p.lo;
    auto* at = reinterpret_cast<void*>(p.lo);
    void* done = MAP_FAILED;
    if (p.prot < 0 || !(p.prot & PROT_READ)) {  // code (or nothing readable): gone
      done = mmap(at, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    } else if (mem >= 0) {
      void* copy = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (copy == MAP_FAILED) continue;
      if (pread(mem, copy, len, static_cast<off_t>(p.lo)) == static_cast<ssize_t>(len) &&
          mprotect(copy, len, p.prot) == 0)
        done = mremap(copy, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, at);
      if (done == MAP_FAILED) munmap(copy, len);
    }
    if (done == MAP_FAILED)
      log_error("%s: cannot replace its mapping at %p: %s", r->path, at, std::strerror(errno));
    else
      ++replaced;
  }
  if (mem >= 0) close(mem);
  r->unmapped = true;
  log_debug("%s: %d of %d mappings of its file replaced in the VM", r->path, replaced, n);
}

// nif_init, as ERTS's dlsym finds it: the proxy entry.
void on_init(ffi_cif*, void* ret, void**, void* user) {
  auto* r = static_cast<Rebuilt*>(user);
  if (!r->unmapped) drop_file_mappings(r);
  *static_cast<ErlNifEntry**>(ret) = &r->lib->entry;
}

// DT_FINI: the VM closed the library for the last time.
void on_fini(ffi_cif*, void*, void**, void* user) {
  nif_library_closed(static_cast<Rebuilt*>(user)->lib);
}

// Points the library's nif_init symbol and DT_FINI at the shim's closures.
bool redirect(Rebuilt* r, void* user_init) {
  r->init = std::make_unique<FfiClosure>(&ffi_type_pointer, 0, nullptr, on_init, r);
  r->fini = std::make_unique<FfiClosure>(&ffi_type_void, 0, nullptr, on_fini, r);
  if (!r->init->ok() || !r->fini->ok()) return false;
  Dl_info info{};
  ElfW(Sym)* sym = nullptr;
  if (dladdr1(user_init, &info, reinterpret_cast<void**>(&sym), RTLD_DL_SYMENT) == 0 || sym == nullptr ||
      std::strcmp(info.dli_sname ? info.dli_sname : "", "nif_init") != 0) {
    log_error("%s: cannot find its nif_init symbol", r->path);
    return false;
  }
  const std::uint64_t bias = r->obj.load_bias;
  if (r->obj.dt_fini != nullptr &&
      !patch_word(&r->obj.dt_fini->d_un.d_ptr, reinterpret_cast<std::uint64_t>(r->fini->code()) - bias))
    return false;
  return patch_word(&sym->st_value,
                    reinterpret_cast<std::uint64_t>(r->init->code()) - bias);
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

// libnifshim.so came in as the library's dependency, and would leave with
// it at its last dlclose -- under the workers' monitor threads and the
// closures ERTS holds. It stays until the VM exits.
void pin_self() {
  static bool pinned = false;
  if (pinned) return;
  Dl_info self{};
  if (dladdr(reinterpret_cast<void*>(&pin_self), &self) != 0 && self.dli_fname != nullptr &&
      dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) != nullptr)
    pinned = true;
  else
    log_error("cannot pin libnifshim.so in the VM: %s", dlerror());
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
  pin_self();
  auto* r = new Rebuilt{};
  std::snprintf(r->path, sizeof r->path, "%s", path);
  if (!switch_off_own_code(self, &r->obj)) {
    refuse(e);
    return 0;
  }
  char err[1024] = "nifshim: cannot create the shared window";
  const bool window = start_copy_mode();
  if (window) follow_vm_chdir_rebuilt();
  r->lib = window ? open_isolated(path, false, err, sizeof err) : nullptr;
  if (r->lib == nullptr || r->lib->init_returns_null) {
    log_error("cannot isolate rebuilt library %s: %s; its load fails", path,
              r->lib ? "its nif_init returned NULL in the worker" : err);
    refuse(e);
    return 0;
  }
  // ERTS finds the shim's nif_init; should that fail, the entry it would get
  // from the library's is the proxy's anyway.
  rewrite_entry(e, r->lib->entry);
  if (!redirect(r, reinterpret_cast<void*>(init)))
    log_error("%s: isolated, but its file stays mapped in the VM", path);
  return 1;
}
