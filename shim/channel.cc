// Channel hand-over: bounded spin, then futex. See channel.h.
#include "channel.h"

#include <cerrno>
#include <ctime>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace nifshim {
namespace {

std::uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1000000000u + std::uint64_t(ts.tv_nsec);
}

// Shared (not FUTEX_PRIVATE): the two waiters are in different processes.
long futex_wait(std::atomic<std::uint32_t>* word, std::uint32_t expected, int timeout_ms) {
  timespec ts{timeout_ms / 1000, long(timeout_ms % 1000) * 1000000};
  return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAIT, expected,
                 timeout_ms > 0 ? &ts : nullptr, nullptr, 0);
}

void futex_wake(std::atomic<std::uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(word), FUTEX_WAKE, 0x7fffffff, nullptr,
          nullptr, 0);
}

inline void cpu_relax() { __builtin_ia32_pause(); }

// Spinning only pays while the partner runs on another CPU. No more threads
// of one process spin at once than there are CPUs (the rest sleep at once):
// a dozen dirty callers spinning on 2 vCPUs would starve the very threads
// they wait for.
std::atomic<int> g_spinners{0};
int max_spinners() {
  static const int n = [] {
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c > 1 ? int(c) : 1;
  }();
  return n;
}

// A worker thread whose caller runs on its own CPU hands over by yielding,
// a context switch per message; and the kernel keeps such a pair together
// (each CPU looks evenly loaded), so with all schedulers calling every pair
// may settle on one CPU each, 10x slower than spinning pairs. The worker
// thread steps onto another CPU it may use (its affinity mask is left as it
// was), at most once a millisecond, and the load balancer spreads the rest.
// Only worker threads move: the VM's threads are the VM's business.
void move_off_cpu(int cpu) {
  thread_local std::uint64_t last_move_ns = 0;
  const std::uint64_t now = now_ns();
  if (now - last_move_ns < 1000000) return;
  last_move_ns = now;
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return;
  cpu_set_t others = allowed;
  CPU_CLR(cpu, &others);
  if (CPU_COUNT(&others) == 0) return;
  if (sched_setaffinity(0, sizeof others, &others) == 0) sched_setaffinity(0, sizeof allowed, &allowed);
}

}  // namespace

void channel_init(abi::Channel* c, abi::Side first) {
  c->turn.store(first, std::memory_order_relaxed);
  c->sleepers.store(0, std::memory_order_relaxed);
  c->cpu[0].store(-1, std::memory_order_relaxed);
  c->cpu[1].store(-1, std::memory_order_relaxed);
  c->msg.kind = abi::Msg::kNone;
  c->msg.top = 0;
}

void channel_post(abi::Channel* c, abi::Side to) {
  // seq_cst store and load: pairs with the sleeper's fetch_or then re-check.
  c->turn.store(to, std::memory_order_seq_cst);
  if (c->sleepers.load(std::memory_order_seq_cst) & (1u << to)) futex_wake(&c->turn);
}

void channel_abandon(abi::Channel* c) {
  // A value neither side waits for: a sleeper's futex compare fails, it
  // wakes, asks still_waiting() and learns the peer is gone.
  c->turn.store(abi::kSideNone, std::memory_order_seq_cst);
  futex_wake(&c->turn);
}

bool channel_wait(abi::Channel* c, abi::Side me, std::uint64_t spin_ns, int timeout_ms,
                  bool (*still_waiting)(void*), void* arg) {
  if (c->turn.load(std::memory_order_acquire) == me) return true;
  const int my_cpu = sched_getcpu();
  // The partner spins on this cache line: write it only when the CPU changed
  // (an idle write would take the line away from the partner once more).
  if (c->cpu[me].load(std::memory_order_relaxed) != my_cpu) c->cpu[me].store(my_cpu, std::memory_order_relaxed);
  if (spin_ns > 0 && g_spinners.fetch_add(1, std::memory_order_relaxed) < max_spinners()) {
    const std::uint64_t until = now_ns() + spin_ns;
    const std::uint32_t partner_bit = 1u << (me ^ 1);
    bool mine = false;
    for (unsigned i = 1;; ++i) {
      // turn first: the other words below are on its line or rarely written,
      // so once turn moves nothing stands between the miss and the return.
      if (c->turn.load(std::memory_order_acquire) == me) {
        mine = true;
        break;
      }
      // The partner is not running yet (still marked asleep: it was woken but
      // has no CPU), or shares my CPU: pausing would only delay it.
      if (c->sleepers.load(std::memory_order_relaxed) & partner_bit) {
        sched_yield();
      } else if (c->cpu[me ^ 1].load(std::memory_order_relaxed) == my_cpu) {
        if (me == abi::kSideWorker) move_off_cpu(my_cpu);
        sched_yield();
      } else {
        cpu_relax();
      }
      if ((i & 31) == 0 && now_ns() > until) break;
    }
    g_spinners.fetch_sub(1, std::memory_order_relaxed);
    if (mine) return true;
  } else if (spin_ns > 0) {
    g_spinners.fetch_sub(1, std::memory_order_relaxed);
  }
  const std::uint32_t bit = 1u << me;
  for (;;) {
    c->sleepers.fetch_or(bit, std::memory_order_seq_cst);
    std::uint32_t t = c->turn.load(std::memory_order_seq_cst);
    if (t == me) break;
    if (still_waiting && !still_waiting(arg)) {
      c->sleepers.fetch_and(~bit, std::memory_order_relaxed);
      return false;
    }
    futex_wait(&c->turn, t, timeout_ms);  // returns at once if turn moved meanwhile
  }
  c->sleepers.fetch_and(~bit, std::memory_order_relaxed);
  // Woken, perhaps on another CPU: tell a spinning partner where I run now.
  const int woke_cpu = sched_getcpu();
  if (woke_cpu != my_cpu) c->cpu[me].store(woke_cpu, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_acquire);
  return true;
}

}  // namespace nifshim
