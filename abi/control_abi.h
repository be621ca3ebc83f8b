// The control protocol between the shim and a worker: fixed-size messages on
// a SOCK_SEQPACKET socket (fd 4 in the worker). Anything larger travels in a
// buffer in the window whose address the message carries. The worker's
// command line carries the window and arena: see worker/main.cc.
#pragma once

#include <cstdint>

namespace nifshim::abi {

inline constexpr int kWorkerWindowFd = 3;   // the window memfd, in the worker
inline constexpr int kWorkerControlFd = 4;  // this protocol
inline constexpr int kWorkerFdPassFd = 5;   // SCM_RIGHTS for enif_select (worker -> VM)

enum class Ctl : std::uint32_t {
  kLoad = 1,         // VM: load the library; arg = LoadBuffer address
  kLoaded = 2,       // worker: LoadBuffer filled (status says how it went)
  kOpenChannel = 3,  // VM: serve the channel at arg with a new thread
  kChannelOpen = 4,  // worker: the thread is waiting on it
  kServiceChannel = 5,  // VM: the channel at arg is where NIF threads send requests
};

struct CtlMsg {
  Ctl kind;
  std::uint32_t status;
  std::uint64_t arg;
};

enum class LoadStatus : std::uint32_t {
  kOk = 0,
  kDlopenFailed = 1,   // text = dlerror() of dlopen
  kNoInit = 2,         // text = dlerror() of dlsym("nif_init"/"_nif_init")
  kInitReturnedNull = 3,
};

struct FuncWire {
  char name[256];
  std::uint32_t arity;
  std::uint32_t flags;
};

// Filled by the worker: what nif_init returned, every field the library's NIF
// version defines (the rest zero), so the VM can check it as natively.
struct LoadBuffer {
  char path[4096];          // in
  LoadStatus status;        // out
  char text[1024];          // out: the error text, when status != kOk
  std::int32_t major, minor;
  std::uint32_t options;
  std::uint32_t has_load, has_reload, has_upgrade, has_unload;
  std::uint64_t sizeof_resource_type_init;
  char name[256];
  char vm_variant[64];
  char min_erts[64];
  std::uint32_t num_funcs;
  FuncWire funcs[1];        // num_funcs of them (the buffer is sized for it)
};

}  // namespace nifshim::abi
