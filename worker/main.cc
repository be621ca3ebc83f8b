// nifshim-worker: hosts one NIF library for a VM. Started by the shim
// (shim/worker_process.cc) with
//   fd 3  the window memfd        fd 4  the control socket (abi/control_abi.h)
//   fd 5  the fd-passing socket   argv: nifshim-worker LIB WINDOW_BASE WINDOW_SIZE
//                                       ARENA_BASE ARENA_SIZE CRASH_RECORD VM_STATE
//                                       VM_LOCALE (setlocale(LC_ALL, NULL) in the VM)
//                                       VM_SIGIGN (the signals the VM ignores, bit s-1)
// and nothing else open but 0-2 (shim/worker_spawn.h).
// It maps the window at the VM's address before anything else, then serves:
// one thread per VM thread that calls the library, each on its own channel.
#include <cerrno>
#include <clocale>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "channel.h"
#include "control_abi.h"
#include "crash_abi.h"
#include "crash_report.h"
#include "hosted_library.h"
#include "local_alloc.h"
#include "log.h"
#include "thread_role.h"
#include "vm_request.h"
#include "worker_stats_abi.h"
#include "worker_state.h"

namespace nifshim::worker {

WorkerState g_worker;

namespace {

constexpr std::uint64_t kIdleSpinNs = 20000;

void* serve_channel(void* arg) {
  auto* c = static_cast<abi::Channel*>(arg);
  crash_report_thread_init();
  thread_role().active = c;
  for (;;) {
    channel_wait(c, abi::kSideWorker, kIdleSpinNs, 0, nullptr, nullptr);
    serve_vm_message(c);
  }
  return nullptr;
}

// A serving thread's stack lies in the window (the shared arena): a NIF's
// stack variables -- out-parameters, a stack ErlNifIOVec, call_data handed to
// enif_dynamic_resource_call and seen by another library's worker -- are then
// valid in every process, and need no copying on the way to the VM. Its
// lowest page is a guard (in this process's view only).
constexpr std::size_t kStackSize = std::size_t{8} << 20;  // NIFs expect at least a scheduler's
constexpr std::size_t kPage = 4096;

int start_serving_thread(abi::Channel* c) {
  void* mem = local_alloc(kStackSize + 2 * kPage);
  if (mem == nullptr) return ENOMEM;
  auto lo = (reinterpret_cast<std::uintptr_t>(mem) + kPage - 1) & ~(kPage - 1);
  mprotect(reinterpret_cast<void*>(lo), kPage, PROT_NONE);  // never freed: threads live as long as the worker
  // The window is out of this process's core dumps (window_attach); a
  // worker's core still needs its threads' stacks to show a backtrace.
  madvise(reinterpret_cast<void*>(lo + kPage), kStackSize, MADV_DODUMP);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstack(&attr, reinterpret_cast<void*>(lo + kPage), kStackSize);
  pthread_t t;
  int e = pthread_create(&t, &attr, serve_channel, c);
  pthread_attr_destroy(&attr);
  return e;
}

bool reply(abi::Ctl kind, std::uint32_t status, std::uint64_t arg) {
  abi::CtlMsg m{kind, status, arg};
  return send(abi::kWorkerControlFd, &m, sizeof m, MSG_NOSIGNAL) == sizeof m;
}

[[noreturn]] void die(const char* what) {
  log_error("worker for %s: %s", g_worker.lib_name, what);
  _exit(70);
}

std::uintptr_t arg_addr(const char* s) { return std::strtoull(s, nullptr, 0); }

// NIFSHIM_WORKER_MEMORY: the worker's private memory (RLIMIT_DATA: its heap,
// its threads' stacks; the shared window does not count).
// NIFSHIM_WORKER_CPU: CPU seconds (RLIMIT_CPU: SIGXCPU, then SIGKILL).
void apply_limits() {
  if (const char* m = std::getenv("NIFSHIM_WORKER_MEMORY"); m && *m) {
    std::size_t bytes = parse_size(m);
    rlimit rl{bytes, bytes};
    if (bytes == 0 || setrlimit(RLIMIT_DATA, &rl) != 0)
      log_error("worker for %s: cannot apply NIFSHIM_WORKER_MEMORY=%s", g_worker.lib_name, m);
  }
  if (const char* c = std::getenv("NIFSHIM_WORKER_CPU"); c && *c) {
    rlim_t secs = std::strtoul(c, nullptr, 10);
    rlimit rl{secs, secs + 1};
    if (secs == 0 || setrlimit(RLIMIT_CPU, &rl) != 0)
      log_error("worker for %s: cannot apply NIFSHIM_WORKER_CPU=%s", g_worker.lib_name, c);
  }
}

}  // namespace
}  // namespace nifshim::worker

int main(int argc, char** argv) {
  using namespace nifshim;
  using namespace nifshim::worker;
  log_init_from_env();
  if (argc != 10) {
    std::fprintf(stderr, "nifshim-worker is started by libnifshim.so, not by hand\n");
    return 64;
  }
  g_worker.lib_name = argv[1];
  // Its own descriptors must not leak into what the NIF runs.
  for (int fd : {abi::kWorkerWindowFd, abi::kWorkerControlFd, abi::kWorkerFdPassFd})
    fcntl(fd, F_SETFD, FD_CLOEXEC);
  // The VM's locale, category by category, as ERTS set it at boot.
  if (setlocale(LC_ALL, argv[8]) == nullptr)
    log_error("worker for %s: cannot set the VM's locale %s", argv[1], argv[8]);
  // The VM's window first, before anything else can be placed in its range.
  int r = window_attach(abi::kWorkerWindowFd, arg_addr(argv[2]), arg_addr(argv[3]), &g_worker.window);
  if (r != 0) {
    log_error("worker for %s: cannot map the window at %s: %s", argv[1], argv[2], std::strerror(-r));
    return 71;
  }
  // Die with the VM; gain no privileges; stay visible in ps/top under the
  // library's name; the limits of the configuration.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  apply_limits();
  if (getppid() == 1) return 72;
  char comm[16];
  std::snprintf(comm, sizeof comm, "nif:%s", argv[1]);
  prctl(PR_SET_NAME, comm);
  if (!local_alloc_init(reinterpret_cast<void*>(arg_addr(argv[4])), arg_addr(argv[5])))
    die("cannot set up the shared arena");
  g_worker.fdpass_fd = abi::kWorkerFdPassFd;
  auto* record = reinterpret_cast<void*>(arg_addr(argv[6]));
  crash_report_install(in_window(record) ? record : nullptr, abi::kCrashRecordSize,
                       std::strtoull(argv[9], nullptr, 0));
  local_alloc_count_into(in_window(record) ? abi::worker_stats(record) : nullptr);
  auto* vm_state = reinterpret_cast<abi::VmState*>(arg_addr(argv[7]));
  g_worker.vm_state = in_window(vm_state) ? vm_state : nullptr;
  follow_vm_cwd();

  for (;;) {
    abi::CtlMsg m;
    ssize_t n = recv(abi::kWorkerControlFd, &m, sizeof m, 0);
    if (n == 0) syscall(SYS_exit_group, 0);  // the VM closed the library (not a NIF's exit)
    if (n < 0 && errno == EINTR) continue;
    if (n != sizeof m) die("bad control message");
    switch (m.kind) {
      case abi::Ctl::kLoad: {
        auto* buf = reinterpret_cast<abi::LoadBuffer*>(m.arg);
        if (!in_window(buf)) die("load buffer outside the window");
        host_library(buf, m.status);  // status carries the buffer size
        reply(abi::Ctl::kLoaded, 0, m.arg);
        break;
      }
      case abi::Ctl::kServiceChannel:
        if (!in_window(reinterpret_cast<void*>(m.arg))) die("channel outside the window");
        g_worker.service = reinterpret_cast<abi::Channel*>(m.arg);
        reply(abi::Ctl::kChannelOpen, 0, m.arg);
        break;
      case abi::Ctl::kOpenChannel: {
        if (!in_window(reinterpret_cast<void*>(m.arg))) die("channel outside the window");
        int e = start_serving_thread(reinterpret_cast<abi::Channel*>(m.arg));
        reply(abi::Ctl::kChannelOpen, static_cast<std::uint32_t>(e), m.arg);
        break;
      }
      default:
        die("unknown control message");
    }
  }
}
