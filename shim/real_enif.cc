// Resolving beam.smp's enif functions; see real_enif.h.
#include "real_enif.h"

#include <dlfcn.h>
#include <mutex>

#include "log.h"

namespace nifshim {
namespace {

void* g_fns[static_cast<int>(abi::ApiId::count)];
RealEnif g_real;
bool g_ok = false;

const char* const kNames[] = {
#define ENIF_FWD(ret, name, params, args, kinds) #name,
#define ENIF_LOCAL(name)
#define ENIF_CUSTOM(name) #name,
#include "enif_api.def"
#undef ENIF_FWD
#undef ENIF_LOCAL
#undef ENIF_CUSTOM
};

template <typename F>
bool resolve(F* out, const char* name) {
  *out = reinterpret_cast<F>(dlsym(RTLD_DEFAULT, name));
  if (*out == nullptr) log_error("beam.smp has no %s", name);
  return *out != nullptr;
}

}  // namespace

bool real_enif_init() {
  static std::once_flag once;
  std::call_once(once, [] {
    bool ok = true;
    int n = 0;
    for (const char* name : kNames) ok &= resolve(&g_fns[n++], name);
#define NIFSHIM_REAL(name) ok &= resolve(&g_real.name, "enif_" #name);
#include "real_enif_list.h"
#undef NIFSHIM_REAL
    g_ok = ok;
  });
  return g_ok;
}

void* real_enif_fn(abi::ApiId id) { return g_fns[static_cast<int>(id)]; }

const RealEnif& real() { return g_real; }

}  // namespace nifshim
