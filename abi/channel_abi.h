// The call channel: one per (VM thread, worker) pair, in the shared window,
// so both processes use it at the same address. Strictly alternating: the
// side whose turn it is reads the message, writes the next one and hands the
// turn over. Requests nest both ways (a scheduler waiting for its NIF serves
// the worker's enif requests; a worker thread waiting for an enif reply
// serves a resource destructor the VM runs meanwhile), so the data area is a
// stack: every message says where free space begins (`top`), and a nested
// message's payload goes above it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace nifshim::abi {

enum Side : std::uint32_t { kSideVm = 0, kSideWorker = 1, kSideNone = 2 /* peer gone */ };

enum class Msg : std::uint16_t {
  kNone = 0,
  // VM -> worker
  kCall = 1,      // run a NIF: fn = function index or scheduled fptr, env, argc, argv
  kCallback = 2,  // run a resource callback: api = CallbackKind, fn = the worker's function
  kLoad = 3,      // run load/upgrade/unload: api = LoadKind
  kReply = 4,     // answer to kEnif: slot[0] = result
  // worker -> VM
  kReturn = 5,    // answer to kCall/kCallback/kLoad: slot[0] = result (kCall: api = 1 if hp is set)
  kEnif = 6,      // an enif request: api = ApiId, slot[i] = argument i
};

// Resource callbacks, then the library's callbacks set with enif_set_option
// (NIF 2.17: on halt, on unload per scheduler thread), which take priv_data.
enum class CallbackKind : std::uint32_t { kDtor, kStop, kDown, kDyncall, kOnHalt, kOnUnloadThread };
enum class LoadKind : std::uint32_t { kLoad, kUpgrade, kUnload };

// kCall's fn: below this, an index into the library's functions; else the
// address of a function the NIF passed to enif_schedule_nif.
inline constexpr std::uint64_t kMaxFuncIndex = 1u << 20;

inline constexpr int kSlots = 12;

// The header, `top`, the call's addresses, slot[0] and slot[1] (a one- or
// two-argument call's arguments, every answer) fit in the channel's first
// cache line together with the turn word, so a trivial call moves one line
// each way.
struct Message {
  Msg kind;
  std::uint16_t api;
  std::int16_t argc;
  std::int16_t thread_type;  // kCall: the caller's enif_thread_type()
  std::uint64_t top;         // first free byte of data[] (offset) for nested payloads
  std::uint64_t fn;
  std::uint64_t env;
  std::uint64_t priv;        // kCall: enif_priv_data(env), so the worker answers locally
  // kCall: the argc arguments are in slot[] when argc <= kSlots (the worker
  // copies them before the NIF runs), else in the data area just below `top`
  // (call_argv()). No address field: that keeps slot[1] on the first line.
  std::uint64_t slot[kSlots];
  // The direct heap (worker/enif_direct.cc), after the slots so that a
  // trivial call never touches this cache line. In a kCall with api = 1, the
  // env's [hp, hp_end) and process, lent with the call (to a function that
  // built on its heap before); else the worker asks for them with
  // priv_heap_reserve when it first needs them. Then in kEnif, where it has
  // built up to; in kReply, the env's [hp, hp_end) after the request; in the
  // kReturn of a kCall (with api = 1), where the NIF's terms end. 0: none.
  std::uint64_t hp;
  std::uint64_t hp_end;
  std::uint64_t proc;  // kCall with api = 1: env->proc, whose off-heap list the worker extends
};

inline constexpr std::size_t kChannelDataSize = (std::size_t{1} << 20) - 256;

struct Channel {
  alignas(64) std::atomic<std::uint32_t> turn;      // the Side whose move it is
  std::atomic<std::uint32_t> sleepers;              // bit (1 << Side): that side waits on the futex
  Message msg;
  // Read by every spin of the partner, written only when a side moved: a
  // line of their own, which the message's later lines (hp) never disturb.
  alignas(64) std::atomic<std::int32_t> cpu[2];     // the CPU each side last waited on
  alignas(64) unsigned char data[kChannelDataSize];
};

static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "futex words must be plain words");
static_assert(offsetof(Channel, msg) + offsetof(Message, slot) + 2 * sizeof(std::uint64_t) <= 64,
              "turn, the message header, slot[0] and slot[1] share one cache line");

static_assert(offsetof(Channel, cpu) >= offsetof(Channel, msg) + sizeof(Message),
              "the CPU words, read while spinning, on a line of their own");
static_assert(sizeof(Channel) <= (std::size_t{1} << 20), "a channel fits its 1 MiB range");

// Where a kCall's arguments are (see Message).
inline const std::uint64_t* call_argv(const Channel* c) {
  if (c->msg.argc <= kSlots) return c->msg.slot;
  return reinterpret_cast<const std::uint64_t*>(c->data + c->msg.top) - c->msg.argc;
}

}  // namespace nifshim::abi
