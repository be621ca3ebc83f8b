// Loading the hosted NIF library; see hosted_library.h.
#include "hosted_library.h"

#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <mutex>
#include <map>
#include <vector>

#include "fd_passing.h"
#include "log.h"
#include "worker_state.h"

namespace nifshim::worker {
namespace {

using NifFn = ERL_NIF_TERM (*)(ErlNifEnv*, int, const ERL_NIF_TERM[]);

std::vector<NifFn> g_functions;  // by index, filled once at load

// ErlNifFunc before NIF 2.7 had no flags field.
struct FuncV1 {
  const char* name;
  unsigned arity;
  NifFn fptr;
};

bool at_least(const ErlNifEntry* e, int major, int minor) {
  return e->major > major || (e->major == major && e->minor >= minor);
}

void copy_text(char* dst, std::size_t cap, const char* src) {
  std::snprintf(dst, cap, "%s", src ? src : "");
}

// The descriptors the VM has a copy of: fd -> token. Sending happens under
// the lock, so that two threads selecting one new descriptor send it once.
std::mutex g_fd_mu;
std::map<int, std::uint32_t> g_fd_tokens;
std::uint32_t g_last_token = 0;

}  // namespace

void host_library(abi::LoadBuffer* buf, std::size_t buf_size) {
  dlerror();
  void* h = dlopen(buf->path, RTLD_NOW);
  if (h == nullptr) {
    buf->status = abi::LoadStatus::kDlopenFailed;
    copy_text(buf->text, sizeof buf->text, dlerror());
    return;
  }
  // As ERTS: "nif_init", else "_nif_init"; failure is dlerror() != NULL.
  dlerror();
  void* init = dlsym(h, "nif_init");
  const char* err = dlerror();
  if (err != nullptr) {
    init = dlsym(h, "_nif_init");
    err = dlerror();
  }
  if (err != nullptr) {
    buf->status = abi::LoadStatus::kNoInit;
    copy_text(buf->text, sizeof buf->text, err);
    return;
  }
  g_worker.handle = h;
  auto* e = reinterpret_cast<ErlNifEntry* (*)()>(init)();
  if (e == nullptr) {
    buf->status = abi::LoadStatus::kInitReturnedNull;
    return;
  }
  g_worker.entry = e;
  buf->status = abi::LoadStatus::kOk;
  buf->major = e->major;
  buf->minor = e->minor;
  copy_text(buf->name, sizeof buf->name, e->name);
  buf->has_load = e->load != nullptr;
  buf->has_reload = e->reload != nullptr;
  buf->has_upgrade = e->upgrade != nullptr;
  buf->has_unload = e->unload != nullptr;
  // Only the fields the library's NIF version defines exist in its entry.
  copy_text(buf->vm_variant, sizeof buf->vm_variant, at_least(e, 2, 1) ? e->vm_variant : "beam.vanilla");
  buf->options = at_least(e, 2, 7) ? e->options : 0;
  buf->sizeof_resource_type_init = at_least(e, 2, 12) ? e->sizeof_ErlNifResourceTypeInit : 0;
  copy_text(buf->min_erts, sizeof buf->min_erts, at_least(e, 2, 14) ? e->min_erts : "erts-?");

  std::size_t room = (buf_size - offsetof(abi::LoadBuffer, funcs)) / sizeof(abi::FuncWire);
  int n = e->num_of_funcs < 0 ? 0 : e->num_of_funcs;
  if (static_cast<std::size_t>(n) > room) {
    log_error("worker: %s has %d functions; only %zu fit the load buffer", buf->path, n, room);
    n = static_cast<int>(room);
  }
  buf->num_funcs = static_cast<std::uint32_t>(n);
  g_functions.assign(static_cast<std::size_t>(n), nullptr);
  for (int i = 0; i < n; ++i) {
    abi::FuncWire& w = buf->funcs[i];
    if (at_least(e, 2, 7)) {
      copy_text(w.name, sizeof w.name, e->funcs[i].name);
      w.arity = e->funcs[i].arity;
      w.flags = e->funcs[i].flags;
      g_functions[i] = e->funcs[i].fptr;
    } else {
      const FuncV1& f = reinterpret_cast<const FuncV1*>(e->funcs)[i];
      copy_text(w.name, sizeof w.name, f.name);
      w.arity = f.arity;
      w.flags = 0;
      g_functions[i] = f.fptr;
    }
  }
}

NifFn hosted_function(unsigned i) { return i < g_functions.size() ? g_functions[i] : nullptr; }

std::uint32_t selected_fd_token(int fd) {
  std::lock_guard<std::mutex> g(g_fd_mu);
  if (auto it = g_fd_tokens.find(fd); it != g_fd_tokens.end()) return it->second;
  if (++g_last_token == 0) g_last_token = 1;  // 0 means none
  const std::uint32_t token = g_last_token;
  if (!fd_send(g_worker.fdpass_fd, fd, fd_tag(token, fd))) return 0;
  g_fd_tokens.emplace(fd, token);
  return token;
}

void forget_selected_fd(int fd) {
  std::lock_guard<std::mutex> g(g_fd_mu);
  g_fd_tokens.erase(fd);
}

}  // namespace nifshim::worker
