// The VM side of a channel exchange; see vm_exchange.h.
//
// Maintainers' note: how each state of the protocol ends when the worker
// dies (SIGKILL from outside, a crash, a deadline or protocol-error kill).
// The monitor thread (worker_process.cc on_death) sets dead_, abandons every
// channel (turn = kSideNone, futex woken) and gives back the data pages; the
// first page, with the turn word, is never zeroed (zeroed, turn would read
// kSideVm, "your turn", with a message of kind 0). Waiters ask alive() on
// every wake, so each state ends in a result value:
//
// | state of the VM thread | how it ends |
// |---|---|
// | kCall posted, NIF running (direct heap lent) | wait fails -> worker_crashed; the env's hp stays; off-heap terms linked above it unlinked, their refs dropped (drop_unfinished_offheap) |
// | serving a kEnif request (real enif_* running) | finishes, posts a kReply nobody reads; the next wait fails -> worker_crashed |
// | a destructor nested in that request (call_callback) | its wait fails -> skipped (logged); the outer request finishes as above |
// | kReturn read, next call not yet posted | the next call's ensure_worker restarts (reap, new generation, load, then publish) |
// | restart: the new worker dies in load | restart_failed; the next call restarts again |
// | kLoad / kCallback on a dead worker | call_load / call_callback return false (restart_failed, callback skipped) |
// | an unexpected message kind | the worker is killed (kill_for_protocol_error) -> worker_crashed |
// | deadline passed | killed; the caller waits for the death, then tidies the heap -> timeout |
// | channel of a reaped worker | taken over only by its own VM thread, never while an exchange on it is on that thread's stack (ChannelInUse) |
//
// Objects of a dead generation: the generation moves before the new worker
// starts, so they are refused by enif_get_resource and their callbacks skip
// the NIF. In-place refcounts: the worker counts a resource's reference
// before it links the term; a reference it kept and never released, or one
// it counted and never linked, leaks (never freed early). Fault injection
// for each state: worker/test_hooks.h, tests/erlang/run_case.sh faults.
#include "vm_exchange.h"

#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <unistd.h>

#include "channel.h"
#include "copy_mode.h"
#include "custom_abi.h"
#include "enif_serve.h"
#include "error_terms.h"
#include "log.h"
#include "nif_library.h"
#include "real_enif.h"
#include "term_layout.h"
#include "worker_process.h"

namespace nifshim {
namespace {

// Spin before sleeping: a forwarded call answers in ~100 ns when both sides
// run; a sleeping worker costs a futex wake either way.
constexpr std::uint64_t kSpinNs = 20000;
constexpr int kCheckMs = 1000;  // a safety net: death also abandons the channel at once

std::uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1000000000u + std::uint64_t(ts.tv_nsec);
}

// What a waiting VM thread checks when it wakes without its answer.
struct Wait {
  Worker* w;
  std::uint64_t until_ns;  // 0: no deadline
  long deadline_ms;
  bool expired = false;
};

bool still_waiting(void* arg) {
  auto* d = static_cast<Wait*>(arg);
  if (!d->w->alive()) return false;
  if (d->until_ns != 0 && now_ns() >= d->until_ns) {
    d->expired = true;
    d->w->kill_for_deadline(d->deadline_ms);
    return false;
  }
  return true;
}

// Posts what is in c->msg and waits for kReturn, serving the worker's enif
// requests meanwhile. false if the worker died or the deadline passed
// (*expired then says which).
bool exchange(Worker* w, abi::Channel* c, std::uint64_t* top, long deadline_ms = 0,
              bool* expired = nullptr, ErlNifEnv* direct_env = nullptr) {
  ChannelInUse in_use(c);
  Wait d{w, deadline_ms > 0 ? now_ns() + std::uint64_t(deadline_ms) * 1000000u : 0, deadline_ms};
  const int check_ms = deadline_ms > 0 && deadline_ms < kCheckMs ? int(deadline_ms) : kCheckMs;
  channel_post(c, abi::kSideWorker);
  for (;;) {
    if (!channel_wait(c, abi::kSideVm, kSpinNs, check_ms, still_waiting, &d)) {
      if (expired) *expired = d.expired;
      return false;
    }
    abi::Msg k = c->msg.kind;
    if (k == abi::Msg::kReturn) return true;
    if (k != abi::Msg::kEnif) {
      // Nothing the worker says is trusted after this: it is killed.
      log_error("worker for %s: protocol error (message %u): killed", w->name(), static_cast<unsigned>(k));
      w->kill_for_protocol_error(static_cast<unsigned>(k));
      return false;
    }
    serve_enif(w, c, top, direct_env);
    channel_post(c, abi::kSideWorker);
  }
}

std::uint64_t align16(std::uint64_t x) { return (x + 15) & ~std::uint64_t{15}; }

// NIFSHIM_DIRECT=0 turns the direct heap off (the worker then forwards every
// term function); copy mode never has it (the VM's heap is not shared).
bool direct_heap_enabled() {
  static const bool on = [] {
    const char* v = std::getenv("NIFSHIM_DIRECT");
    return v == nullptr || std::strcmp(v, "0") != 0;
  }();
  return on && !copy_mode();
}

// A direct call that got no answer (its worker died, or was killed at its
// deadline): the worker may have built terms on the lent heap above the
// env's hp, the last place it reported, and linked ProcBins and magic
// references of them into the process's off-heap list (the list's head is
// in the Process, which ERTS walks at every GC). The env's hp stays where it
// was, so what the raise builds next overwrites them: each is unlinked
// first, and the reference it held on its binary dropped (a resource's
// then skips its destructor: its worker is gone). Everything the worker
// linked since its last report lies in [hp, hp_end) and, the list being
// LIFO, at its head. The worker links an entry only once it is complete,
// and counts the reference first (worker/enif_direct_offheap.cc): a death
// between the two leaks that one binary, never frees it early.
void drop_unfinished_offheap(ErlNifEnv* env) {
  const std::size_t at = proc_off_heap_offset();
  EnvHead* head = env_head(env);
  if (at == 0 || head->proc == nullptr || head->hp == nullptr) return;
  auto* first = reinterpret_cast<std::uint64_t*>(static_cast<unsigned char*>(head->proc) + at);
  const auto lo = reinterpret_cast<std::uint64_t>(head->hp), hi = reinterpret_cast<std::uint64_t>(head->hp_end);
  namespace T = abi::term;
  auto release = reinterpret_cast<decltype(&enif_release_binary)>(real_enif_fn(abi::ApiId::enif_release_binary));
  int dropped = 0;
  while (*first >= lo && *first < hi && *first + 3 * sizeof(std::uint64_t) <= hi) {
    auto* e = reinterpret_cast<std::uint64_t*>(*first);
    *first = e[2];  // erl_off_heap_header: thing_word, size, next
    void* bin = nullptr;
    if (e[0] == T::kProcBinHeader && reinterpret_cast<std::uint64_t>(e + T::kProcBinWords) <= hi)
      bin = reinterpret_cast<void*>(e[T::kProcBinVal]);
    else if (e[0] == T::kRefThingHeader)
      bin = reinterpret_cast<void*>(e[1]);
    if (bin != nullptr) {
      ErlNifBinary b{};
      b.ref_bin = bin;
      release(&b);
    }
    ++dropped;
  }
  if (dropped > 0) log_debug("a dead worker's %d unfinished off-heap terms unlinked", dropped);
}

// The fields of a crash, for the exception and the logger report alike.
#define NIFSHIM_CRASH_FIELDS(lib, w, fname, signame, rec, frames)                                 \
  err_string("library", (lib)->path), err_atom("function", fname), err_int("pid", (w)->pid()),     \
      err_string("reason", (w)->death()), err_atom("signal", signame),                             \
      err_int("fault_address", long((w)->fault_address())), err_int("exit_status", (w)->exit_status()), \
      err_strings("backtrace", (rec) ? (rec)->text[0] : "", frames, sizeof(rec)->text[0]),          \
      err_string("core", (w)->core())

void crash_facts(Worker* w, char* signame, std::size_t len, const abi::CrashRecord** rec, long* frames) {
  *rec = w->crash_record();
  std::snprintf(signame, len, "none");
  if (w->signal() > 0)
    std::snprintf(signame, len, "SIG%s", sigabbrev_np(w->signal()) ? sigabbrev_np(w->signal()) : "?");
  *frames = *rec && w->signal() > 0 ? long((*rec)->nframes) : 0;
}

// {nifshim, worker_crashed, #{library, function, pid, reason, signal,
// fault_address, exit_status, backtrace}}: what the worker's crash record says.
ERL_NIF_TERM raise_crash(ErlNifEnv* env, NifLibrary* lib, Worker* w, const char* fname) {
  char signame[16];
  const abi::CrashRecord* rec;
  long frames;
  crash_facts(w, signame, sizeof signame, &rec, &frames);
  return raise_error(env, "worker_crashed", {NIFSHIM_CRASH_FIELDS(lib, w, fname, signame, rec, frames)});
}

}  // namespace

ERL_NIF_TERM call_nif(NifLibrary* lib, std::uint64_t fn, const char* fname, ErlNifEnv* env,
                      int argc, const ERL_NIF_TERM argv[], std::atomic<bool>* built) {
  lib->calls.fetch_add(1, std::memory_order_relaxed);
  CallTimer timer(&lib->latency);
  ERL_NIF_TERM restart_error;
  if (!ensure_worker(lib, env, fname, &restart_error)) return restart_error;
  Worker* w = __atomic_load_n(&lib->worker, __ATOMIC_ACQUIRE);  // published by a restart
  std::uint64_t* top = nullptr;
  abi::Channel* c = w->alive() ? w->thread_channel(&top) : nullptr;
  if (c == nullptr)
    return raise_error(env, "worker_unavailable",
                       {err_string("library", lib->path), err_atom("function", fname),
                        err_string("reason", w->death())});
  abi::Message& m = c->msg;
  // Everything the message says is worked out first and then written in one
  // burst: the worker spins reading this cache line, and each store between
  // two of its reads would cost the line another trip between the CPUs.
  const int tt = real().thread_type();
  const std::uint64_t priv =
      reinterpret_cast<std::uint64_t>(lib->priv_overridden ? lib->priv : real().priv_data(env));
  const bool dirty = tt == ERL_NIF_THR_DIRTY_CPU_SCHEDULER || tt == ERL_NIF_THR_DIRTY_IO_SCHEDULER;
  // The worker may build terms on this call's heap itself (normal schedulers,
  // the VM's memory in the window): it asks for [hp, hp_end) when it first
  // needs it and says where it got to with every request and at return.
  EnvHead* head = env_head(env);
  const bool direct = tt == ERL_NIF_THR_NORMAL_SCHEDULER && direct_heap_enabled();
  const bool lend = direct && built->load(std::memory_order_relaxed) && head->hp != nullptr &&
                    head->hp <= head->hp_end;
  const long deadline = dirty ? lib->dirty_deadline_ms : lib->deadline_ms;
  // argv lives on this thread's stack (normal NIFs): the worker gets a copy,
  // in the message's slots when it fits there (cache lines the worker reads
  // anyway), else in the data area.
  static_assert(sizeof(ERL_NIF_TERM) == sizeof(m.slot[0]));
  const std::uint64_t base = align16(*top);
  ERL_NIF_TERM* args = reinterpret_cast<ERL_NIF_TERM*>(m.slot);
  std::uint64_t new_top = base;
  if (argc > abi::kSlots) {
    if (base + std::size_t(argc) * sizeof(ERL_NIF_TERM) > abi::kChannelDataSize)
      return raise_error(env, "channel_full", {err_string("library", lib->path), err_atom("function", fname)});
    args = reinterpret_cast<ERL_NIF_TERM*>(c->data + base);
    new_top = base + std::size_t(argc) * sizeof(ERL_NIF_TERM);
  }
  w->set_inflight(fname);
  m.kind = abi::Msg::kCall;
  m.api = lend ? 1 : 0;
  m.argc = static_cast<std::int16_t>(argc);
  m.thread_type = static_cast<std::int16_t>(tt);
  m.top = new_top;
  m.fn = fn;
  m.env = reinterpret_cast<std::uint64_t>(env);
  m.priv = priv;
  std::memcpy(args, argv, std::size_t(argc) * sizeof(ERL_NIF_TERM));
  if (lend) {
    m.hp = reinterpret_cast<std::uint64_t>(head->hp);
    m.hp_end = reinterpret_cast<std::uint64_t>(head->hp_end);
    m.proc = reinterpret_cast<std::uint64_t>(head->proc);
  }
  bool expired = false;
  const bool answered = exchange(w, c, top, deadline, &expired, direct ? env : nullptr);
  w->set_inflight(nullptr);
  if (answered && direct && c->msg.api == 1 && c->msg.hp != 0) {
    head->hp = reinterpret_cast<std::uint64_t*>(c->msg.hp);
    if (!built->load(std::memory_order_relaxed)) built->store(true, std::memory_order_relaxed);
  }
  if (copy_mode()) copy_env_done(env);
  if (!answered) {
    // The worker is dead or being killed (deadline, protocol error): let its
    // death land before this process calls again, and before its heap is
    // tidied (bounded; SIGKILL takes effect in milliseconds).
    for (int i = 0; i < 2000 && w->alive(); ++i) usleep(1000);
    if (direct && !w->alive()) drop_unfinished_offheap(env);
    if (expired) {
      return raise_error(env, "timeout", {err_string("library", lib->path), err_atom("function", fname),
                                          err_int("deadline_ms", deadline), err_int("pid", w->pid())});
    }
    return raise_crash(env, lib, w, fname);
  }
  return static_cast<ERL_NIF_TERM>(c->msg.slot[0]);
}

bool call_callback(Worker* w, abi::CallbackKind kind, std::uint64_t fn, ErlNifEnv* env, void* obj,
                   std::uint64_t arg2, std::uint64_t arg3, const void* copy2, std::size_t copy2_len,
                   const void* copy3, std::size_t copy3_len) {
  std::uint64_t* top = nullptr;
  abi::Channel* c = w->alive() ? w->thread_channel(&top) : nullptr;
  if (c == nullptr) {
    log_error("worker for %s is gone: a resource callback is skipped", w->name());
    return false;
  }
  std::uint64_t at = align16(*top);
  // Pointer arguments to VM-private memory (down: pid, monitor) travel as copies.
  if (copy2) {
    std::memcpy(c->data + at, copy2, copy2_len);
    arg2 = reinterpret_cast<std::uint64_t>(c->data + at);
    at = align16(at + copy2_len);
  }
  if (copy3) {
    std::memcpy(c->data + at, copy3, copy3_len);
    arg3 = reinterpret_cast<std::uint64_t>(c->data + at);
    at = align16(at + copy3_len);
  }
  abi::Message& m = c->msg;
  m.kind = abi::Msg::kCallback;
  m.api = static_cast<std::uint16_t>(kind);
  m.fn = fn;
  m.top = at;
  m.thread_type = real().thread_type();
  m.slot[abi::cb::kEnv] = reinterpret_cast<std::uint64_t>(env);
  m.slot[abi::cb::kObj] = reinterpret_cast<std::uint64_t>(obj);
  m.slot[abi::cb::kArg2] = arg2;
  m.slot[abi::cb::kArg3] = arg3;
  const bool ok = exchange(w, c, top);
  if (copy_mode()) copy_env_done(env);
  return ok;
}

bool call_load(Worker* w, abi::LoadKind kind, const std::uint64_t* in, int nin, std::uint64_t* out) {
  std::uint64_t* top = nullptr;
  abi::Channel* c = w->alive() ? w->thread_channel(&top) : nullptr;
  if (c == nullptr) return false;
  abi::Message& m = c->msg;
  m.kind = abi::Msg::kLoad;
  m.api = static_cast<std::uint16_t>(kind);
  m.top = align16(*top);
  m.thread_type = real().thread_type();
  for (int i = 0; i < nin; ++i) m.slot[i] = in[i];
  const bool ok = exchange(w, c, top);
  if (copy_mode()) copy_env_done(reinterpret_cast<const void*>(in[0]));  // the env
  if (!ok) return false;
  for (int i = 0; i < 3; ++i) out[i] = c->msg.slot[i];
  return true;
}

}  // namespace nifshim
