// enif_consume_timeslice without a round trip. crypto calls it once per
// 20 KB piece it hashes, jiffy every few kilobytes.
//
// erl_nif.c: on a dirty scheduler it is a no-op that answers 0; elsewhere it
// takes ((CONTEXT_REDS + 99) / 100) * percent reductions from the calling
// process's `fcalls` (no lower than 0; bif.h BUMP_REDS) and answers whether
// none are left. The NIF runs while its scheduler waits, and the JIT reloads
// `fcalls` from the Process when the NIF returns, so the worker may do the
// same in place. Where `fcalls` lies is learned: for each forwarded call the
// worker looks for the words of the Process that moved exactly as BUMP_REDS
// would have moved them (and matched the VM's answer), keeps the offsets
// that did so every time, and goes direct when one offset is left after
// kLearnAgree calls. None left: forwarded for good, with a log line. With
// save_calls the counter runs below 0; a counter not above 0 is forwarded.
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "enif_direct.h"
#include "export.h"
#include "log.h"
#include "thread_role.h"
#include "worker_state.h"

namespace nifshim::worker {
namespace {

constexpr int kGiveUpAfter = 64;  // calls that could not tell two or more words apart
constexpr std::int64_t kContextReds = 4000;  // erl_vm.h CONTEXT_REDS
constexpr std::size_t kScanWords = 256;      // the first 2 KB of the Process

// A runtime that counts otherwise, as a test simulates it (run_case.sh
// direct_offheap): the worker would take one reduction more per percent.
std::int64_t reds_for(int percent) {
  static const std::int64_t per = [] {
    const char* m = std::getenv("NIFSHIM_TEST_LAYOUT_MISMATCH");
    return (kContextReds + 99) / 100 + (m && std::strcmp(m, "offheap") == 0 ? 1 : 0);
  }();
  if (percent < 1) percent = 1;
  if (percent > 100) percent = 100;
  return per * percent;
}

struct Learned : Learning {
  bool candidate[kScanWords] = {};  // offsets (in words) that moved as expected every time
  std::size_t at = 0;               // fcalls, once learned (bytes)
};
Learned g_reds;

bool dirty(const ThreadRole& r) {
  return r.thread_type == ERL_NIF_THR_DIRTY_CPU_SCHEDULER || r.thread_type == ERL_NIF_THR_DIRTY_IO_SCHEDULER;
}

// A forwarded call, compared word by word with what BUMP_REDS would do.
int learn(ErlNifEnv* env, int percent, const std::int64_t* proc) {
  std::int64_t before[kScanWords];
  std::memcpy(before, proc, sizeof before);
  const int vm = fwd::enif_consume_timeslice(env, percent);
  const std::int64_t reds = reds_for(percent);
  std::lock_guard<std::mutex> g(g_reds.mu);
  Learned& l = g_reds;
  if (l.state.load(std::memory_order_relaxed) != 0) return vm;
  int left = 0;
  std::size_t last = 0;
  for (std::size_t i = 0; i < kScanWords; ++i) {
    const std::int64_t want = before[i] - reds < 0 ? 0 : before[i] - reds;
    const bool moved = before[i] > 0 && proc[i] == want && (want == 0) == (vm != 0);
    l.candidate[i] = (l.agreed == 0 || l.candidate[i]) && moved;
    if (l.candidate[i]) ++left, last = i;
  }
  if (left == 0) {
    l.state.store(-1, std::memory_order_release);
    log_error("%s: no word of the process counts reductions as expected: enif_consume_timeslice stays "
              "forwarded",
              g_worker.lib_name);
    return vm;
  }
  if (++l.agreed >= kGiveUpAfter && left > 1) {
    l.state.store(-1, std::memory_order_release);
    log_error("%s: %d words of the process count reductions alike: enif_consume_timeslice stays forwarded",
              g_worker.lib_name, left);
    return vm;
  }
  if (l.agreed >= kLearnAgree && left == 1) {
    l.at = last * sizeof(std::int64_t);
    l.state.store(1, std::memory_order_release);
    log_debug("%s: enif_consume_timeslice counts in place (%d of the VM's answers agreed)", g_worker.lib_name,
              l.agreed);
  }
  return vm;
}

}  // namespace

}  // namespace nifshim::worker

using namespace nifshim::worker;

extern "C" NIFSHIM_EXPORT int enif_consume_timeslice(ErlNifEnv* env, int percent) {
  const ThreadRole& r = thread_role();
  if (!direct_enabled() || env == nullptr || env != r.env) return fwd::enif_consume_timeslice(env, percent);
  if (dirty(r)) return 0;  // erl_nif.c: "no-op on dirty scheduler"
  const auto* proc = reinterpret_cast<const unsigned char*>(r.proc);
  if (proc == nullptr || !in_window(proc) || !in_window(proc + kScanWords * sizeof(std::int64_t)))
    return fwd::enif_consume_timeslice(env, percent);
  const int state = g_reds.state.load(std::memory_order_acquire);
  if (state == 0) return learn(env, percent, reinterpret_cast<const std::int64_t*>(proc));
  auto* fcalls = reinterpret_cast<std::int64_t*>(r.proc + g_reds.at);
  if (state < 0 || *fcalls <= 0) return fwd::enif_consume_timeslice(env, percent);
  const std::int64_t left = *fcalls - reds_for(percent);
  *fcalls = left < 0 ? 0 : left;
  return left <= 0;
}
