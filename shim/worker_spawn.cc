// The worker's executor; see worker_spawn.h. clone(CLONE_VM | CLONE_VFORK)
// like posix_spawn, which cannot choose the exit signal: the child runs on
// the VM's memory until it execs, so it makes system calls only, with every
// signal blocked until the VM's handlers are gone from its copy of the
// dispositions.
#include "worker_spawn.h"

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control_abi.h"
#include "raw_syscalls.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

namespace nifshim {
namespace {

constexpr std::size_t kChildStack = 64 * 1024;
constexpr int kKernelSigsetBytes = 8;  // _NSIG / 8: what rt_sigprocmask wants

struct ChildArgs {
  const SpawnRequest* req;
  volatile int error;  // written by the child before it exits (shared memory)
};

// glibc's sigprocmask refuses its own two signals (SIGCANCEL, SIGSETXID):
// they are blocked too, as posix_spawn does.
long set_mask(int how, const sigset_t* set, sigset_t* old) {
  return syscall(SYS_rt_sigprocmask, how, set, old, kKernelSigsetBytes);
}

[[noreturn]] void child_fail(ChildArgs* a) {
  a->error = errno ? errno : EINVAL;
  syscall(SYS_exit_group, 127);
  __builtin_unreachable();
}

int child_main(void* p) {
  auto* a = static_cast<ChildArgs*>(p);
  const SpawnRequest& r = *a->req;
  // The VM's handlers would run on the VM's memory: default. Ignored stays
  // ignored, which is the point (exec would reset the handlers anyway).
  for (int s = 1; s < NSIG; ++s) {
    struct sigaction sa{};
    if (sigaction(s, nullptr, &sa) != 0 || sa.sa_handler == SIG_IGN || sa.sa_handler == SIG_DFL) continue;
    sa = {};
    sa.sa_handler = SIG_DFL;
    sigaction(s, &sa, nullptr);
  }
  if (setsid() < 0) child_fail(a);
  const int targets[3] = {abi::kWorkerWindowFd, abi::kWorkerControlFd, abi::kWorkerFdPassFd};
  for (int i = 0; i < 3; ++i)
    if (dup2(r.fds[i], targets[i]) < 0) child_fail(a);
  int nul = open("/dev/null", O_RDONLY);
  if (nul < 0) child_fail(a);
  if (nul != STDIN_FILENO) {
    if (dup2(nul, STDIN_FILENO) < 0) child_fail(a);
    if (nul > abi::kWorkerFdPassFd) close(nul);
  }
  const int first = abi::kWorkerFdPassFd + 1;
  if (syscall(SYS_close_range, first, ~0U, 0) != 0) {  // before Linux 5.9: one by one
    rlimit rl{};
    long n = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ? long(rl.rlim_cur) : 65536;
    for (long fd = first; fd < n; ++fd) close(int(fd));
  }
  sigset_t none;
  sigemptyset(&none);
  set_mask(SIG_SETMASK, &none, nullptr);
  execve(r.exe, r.argv, r.env);
  child_fail(a);
}

}  // namespace

Spawned spawn_worker_process(const SpawnRequest& req) {
  Spawned out;
  void* stack = raw::mmap(nullptr, kChildStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    out.error = errno;
    return out;
  }
  ChildArgs args{&req, 0};
  sigset_t all, old;
  sigfillset(&all);
  set_mask(SIG_SETMASK, &all, &old);
  int pidfd = -1;
  // The low byte of the flags is the exit signal: 0.
  pid_t pid = clone(child_main, static_cast<char*>(stack) + kChildStack, CLONE_VM | CLONE_VFORK | CLONE_PIDFD,
                    &args, &pidfd);
  int e = errno;
  set_mask(SIG_SETMASK, &old, nullptr);
  raw::munmap(stack, kChildStack);
  if (pid < 0) {
    out.error = e;
    return out;
  }
  if (args.error != 0) {  // it exited without exec: reap it
    siginfo_t si{};
    waitid(static_cast<idtype_t>(3) /* P_PIDFD */, static_cast<id_t>(pidfd), &si, WEXITED | __WALL);
    close(pidfd);
    out.error = args.error;
    return out;
  }
  out.pid = pid;
  out.pidfd = pidfd;
  return out;
}

}  // namespace nifshim
