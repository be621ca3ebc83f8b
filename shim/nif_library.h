// An isolated NIF library as the VM sees it: the worker that hosts the real
// library, the proxy ErlNifEntry whose function pointers are libffi closures
// that forward to it, and the proxy stub the VM dlopen'ed in its place.
#pragma once

#include <erl_nif.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "call_latency.h"
#include "control_abi.h"
#include "ffi_closure.h"

namespace nifshim {

class Worker;
struct NifLibrary;

// What a closure handed to the VM stands for (the closure's user data).
struct Binding {
  NifLibrary* lib = nullptr;
  std::uint64_t fn = 0;     // function index, or the worker's function address
  const char* name = "";    // for error terms
  int kind = 0;             // abi::CallbackKind for resource callbacks
  std::uint32_t generation = 0;  // scheduled functions: the worker they belong to
  std::atomic<bool> built_on_heap{false};  // call_nif lends the call's heap up front
};

// A resource type the library opened: after a restart the new worker's
// callbacks are bound to the same VM type.
struct ResourceTypeRecord {
  char name[256];
  void* type;              // the VM's ErlNifResourceType*
  Binding* callbacks[4];   // by abi::CallbackKind, or null
};

struct NifLibrary {
  char path[4096] = {};
  char name[64] = {};
  Worker* worker = nullptr;
  ErlNifEntry entry{};
  bool init_returns_null = false;
  std::vector<ErlNifFunc> funcs;        // entry.funcs (NIF >= 2.7 layout)
  std::vector<unsigned char> funcs_v1;  // entry.funcs for libraries older than 2.7
  std::vector<char*> strings;           // names owned by the entry
  std::vector<std::unique_ptr<Binding>> bindings;
  std::vector<std::unique_ptr<FfiClosure>> closures;
  std::mutex mu;                                       // scheduled
  std::map<std::uint64_t, void*> scheduled;           // worker fn -> closure code
  // Restarts: the worker generation, what load needs to run again, and the
  // resource types to rebind.
  std::atomic<std::uint32_t> generation{0};
  std::atomic<bool> closed{false};
  std::mutex restart_mu;
  ErlNifEnv* info_env = nullptr;        // owns load_info's copy
  ERL_NIF_TERM load_info = 0;
  bool restarting = false;              // open_resource_type: rebind, do not create
  void* priv = nullptr;                 // the worker's priv_data after a restart
  bool priv_overridden = false;
  std::vector<ResourceTypeRecord> types;
  // enif_set_option (NIF 2.17): the closures the VM calls on halt and on
  // unload per scheduler thread; rebound to the new worker after a restart.
  Binding* on_halt = nullptr;
  Binding* on_unload_thread = nullptr;
  bool delay_halt = false;
  std::vector<double> restart_times;    // monotonic seconds, for the policy
  bool gave_up = false;                 // the restart policy ran out (NIFSHIM_BACKOFF=off)
  double backoff_until = 0;             // monotonic seconds: fail fast until then (0: none)
  long backoff_ms = 0;                  // the current backoff period (0: none since the last quiet time)
  const Worker* counted_death = nullptr;  // the dead worker last counted in `crashes`
  char last_core[4352] = "";             // NIFSHIM_CORE_DIR: the last crashed worker's core
  std::uint32_t crashes = 0, restarts = 0;
  std::atomic<std::uint64_t> calls{0};
  CallLatency latency;                  // sampled, for nifshim:workers()
  std::atomic<std::int64_t> resources{0};  // the live worker's resource objects the VM holds
  long deadline_ms = 0, dirty_deadline_ms = 0;  // per call; 0: none (policy.h)

  void* stub_handle = nullptr;
  void* stub_init = nullptr;  // the stub copy's nif_init: identifies the library
  int stub_fd = -1;
  char stub_path[64] = {};

  // A closure for enif_schedule_nif's function `fn`, made once per function.
  void* scheduled_closure(std::uint64_t fn, const char* name);
  // A closure for a resource callback of kind `kind` (abi::CallbackKind);
  // *binding says what it calls (rebound after a restart).
  void* callback_closure(int kind, std::uint64_t fn, Binding** binding);
  // A closure for enif_set_option's callback of kind `kind` (kOnHalt,
  // kOnUnloadThread): void (*)(void* priv_data), run in the worker.
  void* option_closure(int kind, std::uint64_t fn, Binding** binding);
};

// Makes sure the library has a live worker: restarts a dead one (a fresh
// worker, the library loaded again, load run again with the original
// load_info) within the restart policy. Returns nullptr, or the error term
// raised in env's process.
bool ensure_worker(NifLibrary* lib, ErlNifEnv* env, const char* fname, ERL_NIF_TERM* error);

// Starts a worker for lib (reusing `previous`'s arena and crash record if
// given) and loads the library in it; fills *buf and *started (the worker,
// if one started; not yet lib->worker). false with err set.
bool start_and_load(NifLibrary* lib, Worker* previous, Worker** started, abi::LoadBuffer** buf, char* err,
                    std::size_t errlen);
void free_load_buffer(abi::LoadBuffer* buf);

// Whether a worker loaded the same entry (name, functions, arities) again.
bool same_library(const NifLibrary* lib, const abi::LoadBuffer* buf);

// The library a VM resource object belongs to, if it came from a live worker
// of an isolated library (header checked); nullptr for a dead worker's.
NifLibrary* resource_owner_if_current(void* vm_obj);

// Calls fn for every open isolated library (under the registry's lock).
void for_each_library(void (*fn)(NifLibrary*, void*), void* arg);

// The restart policy in force (restart.cc); backoff 0/0 when it is off.
void restart_policy(int* max, double* seconds);
void backoff_policy(long* min_ms, long* max_ms);

// Milliseconds until a library in backoff tries a fresh worker: 0 when not
// backing off, -1 when given up for good (restart_mu held or not: a snapshot).
long backoff_retry_in_ms(const NifLibrary* lib);

// Starts a worker for the library at path and builds lib->entry; with_stub:
// also loads the proxy stub (preload mode). nullptr with err set.
NifLibrary* open_isolated(const char* path, bool with_stub, char* err, std::size_t errlen);

// The VM closed the library for the last time: stop its worker. Runs under
// the dynamic linker's lock: no dl* calls.
void nif_library_closed(NifLibrary* lib);

// dlopen of an isolated library: the proxy stub's handle, or nullptr with
// the error text for dlerror() in `err`.
void* nif_library_open(const char* path, char* err, std::size_t errlen);

}  // namespace nifshim
