// An isolated NIF library as the VM sees it: the worker that hosts the real
// library, the proxy ErlNifEntry whose function pointers are libffi closures
// that forward to it, and the proxy stub the VM dlopen'ed in its place.
#pragma once

#include <erl_nif.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "ffi_closure.h"

namespace nifshim {

class Worker;
struct NifLibrary;

// What a closure handed to the VM stands for (the closure's user data).
struct Binding {
  NifLibrary* lib;
  std::uint64_t fn;   // function index, or the worker's function address
  const char* name;   // for error terms
  int kind;           // abi::CallbackKind for resource callbacks
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
  void* stub_handle = nullptr;
  void* stub_init = nullptr;  // the stub copy's nif_init: identifies the library
  int stub_fd = -1;
  char stub_path[64] = {};

  // A closure for enif_schedule_nif's function `fn`, made once per function.
  void* scheduled_closure(std::uint64_t fn, const char* name);
  // A closure for a resource callback of kind `kind` (abi::CallbackKind).
  void* callback_closure(int kind, std::uint64_t fn);
};

// dlopen of an isolated library: the proxy stub's handle, or nullptr with
// the error text for dlerror() in `err`.
void* nif_library_open(const char* path, char* err, std::size_t errlen);

}  // namespace nifshim
