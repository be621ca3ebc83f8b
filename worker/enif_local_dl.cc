// enif_dlopen and enif_dlsym in the worker: libraries a NIF opens this way
// (crypto opens crypto_callback) load into the worker, next to the NIF.
//
// Semantics of OTP 25's erl_nif.c:2970-3004 with
// erts/emulator/sys/unix/erl_unix_sys_ddll.c:
// - enif_dlopen appends ".so" to `lib` (erts_sys_ddll_open) and opens it
//   with dlopen(RTLD_NOW), after clearing dlerror();
// - on success, if the library exports "nif_init" (else "_nif_init"), that
//   function is called and its result ignored (erts_sys_ddll_load_nif_init +
//   erts_sys_ddll_call_nif_init); a library without either is fine, and the
//   failed lookups leave dlerror() clear;
// - on failure, err_handler (if not NULL) gets err_arg and a copy of
//   dlerror()'s full text, valid during the call; the result is NULL;
// - enif_dlsym clears dlerror(), calls dlsym and judges failure by dlerror()
//   (a symbol whose value is NULL is a success); on failure err_handler gets
//   the text and the result is NULL.
// Where the worker differs: a NULL `lib` or `symbol` is reported through
// err_handler instead of crashing in strlen.
#include <dlfcn.h>
#include <erl_nif.h>

#include <cstdlib>
#include <cstring>

#include "export.h"

namespace nifshim::worker {
namespace {

using ErrHandler = void (*)(void*, const char*);

// The handler gets a private copy: it may call into the dynamic linker,
// which can overwrite dlerror()'s buffer.
void report(ErrHandler handler, void* arg, const char* text) {
  if (!handler) return;
  if (!text) text = "unspecified error";
  char* copy = strdup(text);
  handler(arg, copy ? copy : text);
  std::free(copy);
}

// erts_sys_ddll_sym2: true and *out on success; false with *err the text.
bool lookup(void* handle, const char* symbol, void** out, const char** err) {
  dlerror();
  void* sym = dlsym(handle, symbol);
  if (const char* e = dlerror()) {
    *err = e;
    return false;
  }
  *out = sym;
  return true;
}

}  // namespace
}  // namespace nifshim::worker

using namespace nifshim::worker;

extern "C" {

NIFSHIM_EXPORT void* enif_dlopen(const char* lib, void (*err_handler)(void*, const char*),
                                 void* err_arg) {
  if (!lib) {
    report(err_handler, err_arg, "enif_dlopen: NULL library name");
    return nullptr;
  }
  size_t len = std::strlen(lib);
  char* name = static_cast<char*>(std::malloc(len + sizeof ".so"));
  if (!name) {
    report(err_handler, err_arg, "enif_dlopen: out of memory");
    return nullptr;
  }
  std::memcpy(name, lib, len);
  std::memcpy(name + len, ".so", sizeof ".so");
  dlerror();
  void* handle = dlopen(name, RTLD_NOW);
  std::free(name);
  if (!handle) {
    report(err_handler, err_arg, dlerror());
    return nullptr;
  }
  void* init = nullptr;
  const char* ignored;
  if ((lookup(handle, "nif_init", &init, &ignored) ||
       lookup(handle, "_nif_init", &init, &ignored)) &&
      init) {
    reinterpret_cast<void* (*)(void)>(init)();
  }
  return handle;
}

NIFSHIM_EXPORT void* enif_dlsym(void* handle, const char* symbol,
                                void (*err_handler)(void*, const char*), void* err_arg) {
  if (!symbol) {
    report(err_handler, err_arg, "enif_dlsym: NULL symbol name");
    return nullptr;
  }
  void* sym = nullptr;
  const char* err;
  if (!lookup(handle, symbol, &sym, &err)) {
    report(err_handler, err_arg, err);
    return nullptr;
  }
  return sym;
}

}  // extern "C"
