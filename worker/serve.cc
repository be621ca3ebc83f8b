// Running what the VM asks of the worker: NIF calls, resource callbacks,
// load/upgrade/unload. Each runs on the worker thread paired with the VM
// thread that asked, so the enif requests it makes go back to that thread.
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

#include "channel.h"
#include "custom_abi.h"
#include "enif_direct.h"
#include "hosted_library.h"
#include "local_alloc.h"
#include "log.h"
#include "resource_abi.h"
#include "test_hooks.h"
#include "thread_role.h"
#include "vm_request.h"
#include "worker_state.h"

namespace nifshim::worker {
namespace {

using NifFn = ERL_NIF_TERM (*)(ErlNifEnv*, int, const ERL_NIF_TERM[]);

template <typename T>
T as(std::uint64_t v) {
  return reinterpret_cast<T>(v);
}

// Restores the thread's role when a (possibly nested) message is done.
struct RoleScope {
  ThreadRole saved;
  RoleScope() : saved(thread_role()) {}
  ~RoleScope() { thread_role() = saved; }
};

void run_call(abi::Channel* c, std::uint64_t* out) {
  abi::Message& m = c->msg;
  ThreadRole& r = thread_role();
  r.thread_type = m.thread_type;
  r.env = as<ErlNifEnv*>(m.env);
  r.priv_value = as<void*>(m.priv);
  r.priv_slot = &r.priv_value;
  NifFn fn;
  if (m.fn < abi::kMaxFuncIndex) {
    fn = hosted_function(static_cast<unsigned>(m.fn));
    if (fn == nullptr) {
      log_error("worker: the VM called function #%lu, which %s does not have",
                static_cast<unsigned long>(m.fn), g_worker.lib_name);
      std::abort();
    }
  } else {
    fn = as<NifFn>(m.fn);  // a function the NIF passed to enif_schedule_nif
  }
  // The call's heap is the worker's to build on (asked for when the first
  // term needs it), on normal schedulers with the direct path (enif_direct.h).
  r.hp = r.hp_end = 0;
  r.heap_ok = direct_enabled() && m.thread_type == ERL_NIF_THR_NORMAL_SCHEDULER;
  // Lent with the call (a function that built on its heap before): no
  // priv_heap_reserve round trip (abi/channel_abi.h).
  if (r.heap_ok && m.api == 1 && m.hp != 0 && m.hp <= m.hp_end) {
    r.hp = m.hp;
    r.hp_end = m.hp_end;
    r.proc = m.proc;
  }
  // argv lies in the channel's data area below m.top (nested frames go
  // above), or in the message's slots, which the NIF's first enif request
  // reuses: those are copied to this thread's stack (in the window) first.
  if (m.argc < 0 || (m.argc > abi::kSlots && std::size_t(m.argc) * sizeof(ERL_NIF_TERM) > m.top)) {
    log_error("worker: a call with %d arguments below offset %lu", m.argc, static_cast<unsigned long>(m.top));
    std::abort();
  }
  auto argv = reinterpret_cast<const ERL_NIF_TERM*>(abi::call_argv(c));
  ERL_NIF_TERM local[abi::kSlots];
  if (m.argc <= abi::kSlots) {
    for (int i = 0; i < m.argc; ++i) local[i] = m.slot[i];
    argv = local;
  }
  out[0] = fn(r.env, m.argc, argv);
}

void run_callback(abi::Message& m) {
  ThreadRole& r = thread_role();
  r.thread_type = m.thread_type;
  r.env = nullptr;
  r.hp = r.hp_end = 0;
  auto env = as<ErlNifEnv*>(m.slot[abi::cb::kEnv]);
  void* obj = as<void*>(m.slot[abi::cb::kObj]);
  switch (static_cast<abi::CallbackKind>(m.api)) {
    case abi::CallbackKind::kDtor:
      if (m.fn) as<ErlNifResourceDtor*>(m.fn)(env, obj);
      // Copy mode: the object is this worker's (every type has this callback).
      if (vm_copy_mode()) local_free(static_cast<char*>(obj) - abi::kResourceHeaderSize);
      break;
    case abi::CallbackKind::kStop: {
      // Forgotten first: the NIF may close it, and another thread reuse its
      // number for a new descriptor, before this callback returns.
      auto fd = static_cast<ErlNifEvent>(m.slot[abi::cb::kArg2]);
      forget_selected_fd(fd);
      as<ErlNifResourceStop*>(m.fn)(env, obj, fd, static_cast<int>(m.slot[abi::cb::kArg3]));
      break;
    }
    case abi::CallbackKind::kDown:
      as<ErlNifResourceDown*>(m.fn)(env, obj, as<ErlNifPid*>(m.slot[abi::cb::kArg2]),
                                    as<ErlNifMonitor*>(m.slot[abi::cb::kArg3]));
      break;
    case abi::CallbackKind::kDyncall:
      as<ErlNifResourceDynCall*>(m.fn)(env, obj, as<void*>(m.slot[abi::cb::kArg2]));
      break;
    case abi::CallbackKind::kOnHalt:          // enif_set_option's callbacks:
    case abi::CallbackKind::kOnUnloadThread:  // obj is the library's priv_data
      as<void (*)(void*)>(m.fn)(obj);
      break;
  }
}

void run_load(abi::Message& m, std::uint64_t* out) {
  ThreadRole& r = thread_role();
  r.thread_type = m.thread_type;
  r.hp = r.hp_end = 0;
  r.env = as<ErlNifEnv*>(m.slot[abi::load::kEnv]);
  ErlNifEntry* e = g_worker.entry;
  switch (static_cast<abi::LoadKind>(m.api)) {
    case abi::LoadKind::kLoad: {
      r.priv_value = nullptr;
      r.priv_slot = &r.priv_value;  // enif_priv_data sees what load stores, as natively
      auto info = static_cast<ERL_NIF_TERM>(m.slot[abi::load::kInfo]);
      out[0] = static_cast<std::uint64_t>(e->load ? e->load(r.env, r.priv_slot, info) : 0);
      out[1] = reinterpret_cast<std::uint64_t>(r.priv_value);
      break;
    }
    case abi::LoadKind::kUpgrade: {
      void* old_priv = as<void*>(m.slot[abi::load::kPriv]);
      r.priv_value = nullptr;
      r.priv_slot = &r.priv_value;
      auto info = static_cast<ERL_NIF_TERM>(m.slot[abi::load::kInfo]);
      out[0] = static_cast<std::uint64_t>(
          e->upgrade ? e->upgrade(r.env, r.priv_slot, &old_priv, info) : 0);
      out[1] = reinterpret_cast<std::uint64_t>(r.priv_value);
      out[2] = reinterpret_cast<std::uint64_t>(old_priv);
      break;
    }
    case abi::LoadKind::kUnload:
      r.priv_value = as<void*>(m.slot[abi::load::kPriv]);
      r.priv_slot = &r.priv_value;
      if (e->unload) e->unload(r.env, r.priv_value);
      break;
  }
}

}  // namespace

void follow_vm_cwd() {
  static std::atomic<std::uint32_t> seen{~0u};
  if (g_worker.vm_state == nullptr) return;
  std::uint32_t gen = g_worker.vm_state->cwd_generation.load(std::memory_order_acquire);
  if (gen == seen.load(std::memory_order_relaxed)) return;
  char path[64];
  std::snprintf(path, sizeof path, "/proc/%d/cwd", g_worker.vm_state->vm_pid);
  if (chdir(path) != 0) log_error("worker: cannot follow the VM's directory: %s", std::strerror(errno));
  seen.store(gen, std::memory_order_relaxed);
}

void serve_vm_message(abi::Channel* c) {
  follow_vm_cwd();
  RoleScope scope;
  ThreadRole& r = thread_role();
  abi::Message& m = c->msg;
  r.active = c;
  r.top = m.top;
  std::uint64_t out[3] = {0, 0, 0};
  r.hp = r.hp_end = r.proc = 0;
  r.heap_ok = false;
  if (!direct_probed()) {  // the probe is a request: it reuses the message
    const abi::Message saved = m;
    direct_init();
    m = saved;
  }
  const bool call = m.kind == abi::Msg::kCall;
  // Only load answers in slot[1] and slot[2]: a call's answer stays on the
  // message's first cache line.
  const int nout = m.kind == abi::Msg::kLoad ? 3 : 1;
  switch (m.kind) {
    case abi::Msg::kCall:
      test_die_point(DiePoint::kCall);
      run_call(c, out);
      break;
    case abi::Msg::kCallback:
      test_die_point(DiePoint::kCallback);
      run_callback(m);
      break;
    case abi::Msg::kLoad:
      test_die_point(DiePoint::kLoad);
      run_load(m, out);
      break;
    default:
      log_error("worker: unexpected message %u from the VM", static_cast<unsigned>(m.kind));
      std::abort();
  }
  // The message area now holds whatever nested traffic left: write afresh.
  m.kind = abi::Msg::kReturn;
  for (int i = 0; i < nout; ++i) m.slot[i] = out[i];
  // Where the NIF's terms end on the call's heap, if it built any there.
  m.api = call && r.hp != 0 ? 1 : 0;
  if (m.api) m.hp = r.hp;
  channel_post(c, abi::kSideVm);
  test_die_point(DiePoint::kReturn);
}

}  // namespace nifshim::worker
