// Fatal-signal reporting in the worker; see crash_report.h. The handler only
// uses async-signal-safe calls (write, backtrace after a warm-up that loads
// libgcc_s beforehand, snprintf into a stack buffer on a dying process).
#include "crash_report.h"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <dlfcn.h>
#include <execinfo.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "crash_abi.h"
#include "worker_state.h"

namespace nifshim::worker {
namespace {

abi::CrashRecord* g_record = nullptr;
int g_core_dir_fd = -1;  // NIFSHIM_CORE_DIR, opened at start (the handler only fchdir's)
constexpr int kSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGSYS, SIGTRAP, SIGXCPU, SIGXFSZ};
constexpr std::size_t kAltStack = 64 * 1024;
// The crash signals the VM ignores (SIGFPE under ERTS): ignored when sent
// (kill, raise), as natively; a fault raising one is still reported (the
// kernel would force it on the VM too).
bool g_vm_ignores[NSIG] = {};

void put(const char* s, std::size_t n) {
  while (n > 0) {
    ssize_t w = write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<std::size_t>(w);
  }
}

void on_fatal(int sig, siginfo_t* si, void*) {
  if (g_vm_ignores[sig] && si != nullptr && si->si_code <= 0) return;  // SI_USER, SI_QUEUE, SI_TKILL
  void* frames[abi::kCrashFrames];
  int n = backtrace(frames, abi::kCrashFrames);
  char line[256];
  int len = std::snprintf(line, sizeof line,
                          "nifshim-worker[%d] (%s): fatal signal %d (SIG%s) at address %p; backtrace:\n",
                          static_cast<int>(getpid()), g_worker.lib_name, sig,
                          sigabbrev_np(sig) ? sigabbrev_np(sig) : "?", si ? si->si_addr : nullptr);
  if (len > 0) put(line, static_cast<std::size_t>(len));
  backtrace_symbols_fd(frames, n, STDERR_FILENO);
  if (g_record != nullptr) {
    for (int i = 0; i < n; ++i) {  // dladdr takes no malloc; the process is dying anyway
      Dl_info di{};
      const char* obj = "?";
      const char* sym = nullptr;
      std::uintptr_t off = reinterpret_cast<std::uintptr_t>(frames[i]);
      if (dladdr(frames[i], &di) != 0) {
        if (di.dli_fname) obj = std::strrchr(di.dli_fname, '/') ? std::strrchr(di.dli_fname, '/') + 1 : di.dli_fname;
        sym = di.dli_sname;
        off -= reinterpret_cast<std::uintptr_t>(sym ? di.dli_saddr : di.dli_fbase);
      }
      std::snprintf(g_record->text[i], sizeof g_record->text[i], "%s(%s+%#lx)", obj, sym ? sym : "",
                    static_cast<unsigned long>(off));
    }
    g_record->signal = sig;
    g_record->code = si ? si->si_code : 0;
    // Only a fault has an address; a raised signal (abort) carries the sender.
    g_record->fault_address = si && si->si_code > 0 ? reinterpret_cast<std::uint64_t>(si->si_addr) : 0;
    g_record->nframes = static_cast<std::uint32_t>(n);
    for (int i = 0; i < n; ++i) g_record->frames[i] = reinterpret_cast<std::uint64_t>(frames[i]);
    __atomic_store_n(&g_record->state, abi::kCrashSignal, __ATOMIC_RELEASE);
  }
  // Die by the same signal, so the cause stays visible to anyone who looks;
  // with NIFSHIM_CORE_DIR, in that directory, where the kernel writes the core.
  if (g_core_dir_fd >= 0) fchdir(g_core_dir_fd);
  signal(sig, SIG_DFL);
  raise(sig);
}

}  // namespace

void crash_report_thread_init() {
  stack_t ss{};
  ss.ss_sp = mmap(nullptr, kAltStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (ss.ss_sp == MAP_FAILED) return;
  ss.ss_size = kAltStack;
  sigaltstack(&ss, nullptr);
}

namespace {

// NIFSHIM_CORE_DIR (shim/core_dumps.h): the kernel may write this worker's
// core, into that directory. Without it the limit stays as inherited.
void allow_core_dumps() {
  const char* dir = std::getenv("NIFSHIM_CORE_DIR");
  if (dir == nullptr || *dir == 0) return;
  g_core_dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (g_core_dir_fd < 0) {
    std::fprintf(stderr, "nifshim-worker (%s): NIFSHIM_CORE_DIR=%s: %s; no core dumps\n", g_worker.lib_name, dir,
                 std::strerror(errno));
    return;
  }
  // Bounded (NIFSHIM_CORE_LIMIT, default 1 GiB): a core is the worker's own
  // memory, but a NIF with a huge heap must not fill the disk.
  rlimit rl{};
  getrlimit(RLIMIT_CORE, &rl);
  rlim_t want = rlim_t{1} << 30;
  if (const char* l = std::getenv("NIFSHIM_CORE_LIMIT"); l && *l) want = parse_size(l);
  rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || want < rl.rlim_max ? want : rl.rlim_max;
  setrlimit(RLIMIT_CORE, &rl);
  prctl(PR_SET_DUMPABLE, 1);
}

}  // namespace

void crash_report_install(void* record, std::size_t record_size, std::uint64_t vm_ignored) {
  allow_core_dumps();
  if (record != nullptr && record_size >= sizeof(abi::CrashRecord))
    g_record = static_cast<abi::CrashRecord*>(record);
  void* warm[4];
  backtrace(warm, 4);  // loads the unwinder now, not inside the handler
  crash_report_thread_init();
  for (int s : kSignals) {
    g_vm_ignores[s] = (vm_ignored >> (s - 1)) & 1;
    struct sigaction sa{};
    sa.sa_sigaction = on_fatal;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | (g_vm_ignores[s] ? 0 : SA_RESETHAND);
    sigemptyset(&sa.sa_mask);
    sigaction(s, &sa, nullptr);
  }
}

void crash_report_exit(int status) {
  if (g_record == nullptr || __atomic_load_n(&g_record->state, __ATOMIC_ACQUIRE) != abi::kCrashNone)
    return;
  g_record->exit_status = status;
  __atomic_store_n(&g_record->state, abi::kCrashExit, __ATOMIC_RELEASE);
}

}  // namespace nifshim::worker

// exit(), _exit() and _Exit() called by a NIF end the worker, not the VM: each
// is interposed (the worker executable comes first in the global scope) only
// to record the status for the VM's error term, then does what it always does.
extern "C" __attribute__((visibility("default"), noreturn)) void exit(int status) {
  nifshim::worker::crash_report_exit(status);
  using Fn = void (*)(int);
  reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "exit"))(status);
  __builtin_unreachable();
}

extern "C" __attribute__((visibility("default"), noreturn)) void _exit(int status) {
  nifshim::worker::crash_report_exit(status);
  syscall(SYS_exit_group, status);
  __builtin_unreachable();
}

extern "C" __attribute__((visibility("default"), noreturn)) void _Exit(int status) {
  nifshim::worker::crash_report_exit(status);
  syscall(SYS_exit_group, status);
  __builtin_unreachable();
}
