// The NIF loader, taken over in beam.smp. erlang:load_nif/2 does
//   dlerror(); h = dlopen("<path>.so", RTLD_NOW); ... dlsym(h, "nif_init")
// A library that exports nif_init (read from its ELF dynamic symbols: the
// real library is never mapped into the VM) and that the policy selects is
// loaded in a worker instead; the VM gets the handle of a proxy stub whose
// nif_init returns the proxy entry (nif_library.cc).
//
// Only dlopen and dlerror are interposed. dlsym and dlclose are left to the
// dynamic linker: an interposed dlsym would break RTLD_NEXT for every other
// interposer in the process (the caller would appear to be the shim), and the
// stub makes the linker's own dlsym/dlclose exact.
#include <dlfcn.h>

#include <cstring>

#include "elf_symbols.h"
#include "export.h"
#include "log.h"
#include "nif_library.h"
#include "policy.h"
#include "real_dl.h"
#include "shim_state.h"

namespace nifshim {
namespace {

using DlopenFn = void* (*)(const char*, int);
using DlerrorFn = char* (*)();

template <typename F>
F next_fn(const char* name) {
  for (const char* v : {"GLIBC_2.34", "GLIBC_2.2.5"})
    if (void* p = dlvsym(RTLD_NEXT, name, v)) return reinterpret_cast<F>(p);
  return nullptr;
}

// The error of the last failed isolated dlopen on this thread, until the next
// dlerror() call reads it (dlerror semantics).
thread_local char t_error[1024];
thread_local bool t_error_pending = false;

// The nifshim module's own NIF talks to the shim in this process: never isolated.
bool is_control_nif(const char* path) {
  const char* base = std::strrchr(path, '/');
  return std::strcmp(base ? base + 1 : path, "nifshim_control.so") == 0;
}

}  // namespace

void* real_dlopen(const char* path, int flags) {
  static DlopenFn f = next_fn<DlopenFn>("dlopen");
  return f(path, flags);
}

char* real_dlerror() {
  static DlerrorFn f = next_fn<DlerrorFn>("dlerror");
  return f();
}

void* real_dlsym(void* handle, const char* name) { return dlsym(handle, name); }

}  // namespace nifshim

using namespace nifshim;

// dlopen: NIF libraries go to a worker; everything else (port drivers, other
// libraries, any process but beam.smp) is the dynamic linker's business.
extern "C" NIFSHIM_EXPORT void* dlopen(const char* path, int flags) {
  if (path == nullptr || g_shim.active_mapper() == nullptr || !policy_isolates(path) ||
      is_control_nif(path))
    return real_dlopen(path, flags);
  static const char* const kInit[] = {"nif_init", "_nif_init", nullptr};
  const char* why = nullptr;
  if (elf_exports_symbol(path, kInit, &why) != ElfCheck::kHasSymbol) return real_dlopen(path, flags);
  void* h = nif_library_open(path, t_error, sizeof t_error);
  if (h == nullptr) {
    t_error_pending = true;
    log_error("cannot isolate %s: %s", path, t_error);
  }
  return h;
}

// dlerror: reports a failed isolated load exactly as a failed dlopen would.
extern "C" NIFSHIM_EXPORT char* dlerror() {
  if (t_error_pending) {
    t_error_pending = false;
    real_dlerror();  // consume any older linker error, as reading it would
    return t_error;
  }
  return real_dlerror();
}
