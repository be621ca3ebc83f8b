// channel_floor: the raw floor of a forwarded call -- a round trip between
// two plain processes over the same channel code the shim uses, in shared
// memory, with the same spin-then-futex wait. Prints the median ns per round
// trip of 5 runs of N round trips: "floor <ns>".
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <new>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "channel.h"

using namespace nifshim;

namespace {
constexpr std::uint64_t kSpinNs = 20000;  // as shim/vm_exchange.cc
double now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}
bool alive(void*) { return true; }
}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 200000;
  void* p = mmap(nullptr, sizeof(abi::Channel), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  auto* c = new (p) abi::Channel;
  channel_init(c, abi::kSideVm);
  pid_t pid = fork();
  if (pid == 0) {
    for (;;) {
      channel_wait(c, abi::kSideWorker, kSpinNs, 0, nullptr, nullptr);
      if (c->msg.kind == abi::Msg::kNone) _exit(0);
      c->msg.kind = abi::Msg::kReturn;
      c->msg.slot[0] = c->msg.slot[1];
      channel_post(c, abi::kSideVm);
    }
  }
  std::vector<double> runs;
  for (int r = 0; r < 6; ++r) {
    double t0 = now_ns();
    for (int i = 0; i < n; ++i) {
      c->msg.kind = abi::Msg::kCall;
      c->msg.slot[1] = static_cast<std::uint64_t>(i);
      channel_post(c, abi::kSideWorker);
      channel_wait(c, abi::kSideVm, kSpinNs, 1000, alive, nullptr);
    }
    if (r > 0) runs.push_back((now_ns() - t0) / n);  // the first run warms up
  }
  c->msg.kind = abi::Msg::kNone;
  channel_post(c, abi::kSideWorker);
  waitpid(pid, nullptr, 0);
  std::sort(runs.begin(), runs.end());
  std::printf("floor %.2f\n", runs[runs.size() / 2]);
  return 0;
}
