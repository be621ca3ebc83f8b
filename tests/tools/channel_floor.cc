// channel_floor: the floor under a forwarded call, two round trips between
// two plain processes in shared memory, N round trips per run, the median
// ns per round trip of 5 runs each:
//   "floor channel <ns>"  the shim's own channel code (abi/channel_abi.h,
//                         shim/channel.cc), with the same spin-then-futex wait
//                         as shim/vm_exchange.cc: a turn word and a message
//                         whose slot[0] carries the argument and the answer,
//                         as a one-argument call's do
//   "floor line <ns>"     the hardware's floor: one cache line passed back
//                         and forth (a turn word, PAUSE while spinning)
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <new>
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "channel.h"

using namespace nifshim;

namespace {
constexpr std::uint64_t kSpinNs = 20000;  // as shim/vm_exchange.cc
constexpr int kRuns = 5;

double now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}
bool alive(void*) { return true; }

void* shared(std::size_t n) {
  void* p = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    std::perror("channel_floor: mmap");
    std::exit(1);
  }
  return p;
}

// Runs `round_trip` n times per run, kRuns runs after one to warm up.
template <typename F>
double median_ns(int n, F round_trip) {
  std::vector<double> runs;
  for (int r = 0; r <= kRuns; ++r) {
    double t0 = now_ns();
    for (int i = 0; i < n; ++i) round_trip(i);
    if (r > 0) runs.push_back((now_ns() - t0) / n);
  }
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

double channel_round_trip(int n) {
  auto* c = new (shared(sizeof(abi::Channel))) abi::Channel;
  channel_init(c, abi::kSideVm);
  pid_t pid = fork();
  if (pid == 0) {
    for (;;) {
      channel_wait(c, abi::kSideWorker, kSpinNs, 0, nullptr, nullptr);
      if (c->msg.kind == abi::Msg::kNone) _exit(0);
      c->msg.kind = abi::Msg::kReturn;
      c->msg.slot[0] = c->msg.slot[0] + 1;
      channel_post(c, abi::kSideVm);
    }
  }
  double ns = median_ns(n, [c](int i) {
    c->msg.kind = abi::Msg::kCall;
    c->msg.slot[0] = static_cast<std::uint64_t>(i);
    channel_post(c, abi::kSideWorker);
    channel_wait(c, abi::kSideVm, kSpinNs, 1000, alive, nullptr);
  });
  c->msg.kind = abi::Msg::kNone;
  channel_post(c, abi::kSideWorker);
  waitpid(pid, nullptr, 0);
  return ns;
}

struct alignas(64) Line {
  std::atomic<std::uint32_t> turn;  // 0: the parent's, 1: the child's, 2: stop
};

// Spins until the turn is no longer `not_mine`; yields now and then, should
// the partner have been preempted (2 vCPUs are easily shared).
std::uint32_t await_line(Line* l, std::uint32_t not_mine) {
  std::uint32_t t;
  for (unsigned i = 1; (t = l->turn.load(std::memory_order_acquire)) == not_mine; ++i) {
    __builtin_ia32_pause();
    if (i % 4096 == 0) sched_yield();
  }
  return t;
}

double line_round_trip(int n) {
  auto* l = new (shared(sizeof(Line))) Line{};
  pid_t pid = fork();
  if (pid == 0) {
    for (;;) {
      if (await_line(l, 0) == 2) _exit(0);
      l->turn.store(0, std::memory_order_release);
    }
  }
  double ns = median_ns(n, [l](int) {
    l->turn.store(1, std::memory_order_release);
    await_line(l, 1);
  });
  l->turn.store(2, std::memory_order_release);
  waitpid(pid, nullptr, 0);
  return ns;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 200000;
  std::printf("floor channel %.2f\n", channel_round_trip(n));
  std::printf("floor line %.2f\n", line_round_trip(n));
  return 0;
}
