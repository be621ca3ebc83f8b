// Test hooks of the worker; see test_hooks.h.
#include "test_hooks.h"

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>

#include "log.h"
#include "worker_state.h"

namespace nifshim::worker {
namespace {

struct DieAt {
  int point = -1;  // a DiePoint, or -1: off
  bool crash = false;
};

DieAt parse() {
  DieAt d;
  const char* v = std::getenv("NIFSHIM_TEST_DIE_AT");
  if (v == nullptr || *v == '\0') return d;
  const char* c1 = std::strchr(v, ':');
  const char* c2 = c1 ? std::strchr(c1 + 1, ':') : nullptr;
  if (c2 == nullptr) {
    log_error("NIFSHIM_TEST_DIE_AT=%s is not LIB:POINT:HOW", v);
    return d;
  }
  const std::size_t lib_len = std::size_t(c1 - v);
  if (std::strlen(g_worker.lib_name) != lib_len || std::strncmp(v, g_worker.lib_name, lib_len) != 0) return d;
  static const char* const kNames[] = {"call", "enif", "callback", "return", "offheap", "load"};
  const std::size_t point_len = std::size_t(c2 - c1 - 1);
  for (int i = 0; i < int(sizeof kNames / sizeof kNames[0]); ++i)
    if (std::strlen(kNames[i]) == point_len && std::strncmp(c1 + 1, kNames[i], point_len) == 0) d.point = i;
  d.crash = std::strcmp(c2 + 1, "crash") == 0;
  if (d.point < 0 || (!d.crash && std::strcmp(c2 + 1, "stop") != 0)) {
    log_error("NIFSHIM_TEST_DIE_AT=%s: unknown point or way to die", v);
    d.point = -1;
  }
  return d;
}

std::atomic<bool> g_armed{false};  // a kCall was taken
std::atomic<bool> g_fired{false};

}  // namespace

void test_die_point(DiePoint p) {
  static const DieAt d = parse();
  if (d.point < 0) return;
  if (p == DiePoint::kCall) g_armed.store(true, std::memory_order_relaxed);
  if (int(p) != d.point || (p != DiePoint::kLoad && !g_armed.load(std::memory_order_relaxed))) return;
  if (g_fired.exchange(true)) return;
  if (d.crash) {
    std::raise(SIGSEGV);
  } else {
    std::raise(SIGSTOP);  // the test kills it now (SIGKILL); a SIGCONT would go on as if nothing happened
  }
}

}  // namespace nifshim::worker
