// The worker's executor; see worker_spawn.h.
#include "worker_spawn.h"

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <ctime>
#include <fcntl.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "control_abi.h"

namespace nifshim {
namespace {

// <linux/pidfd.h> of Linux 6.15 (VER0, 64 bytes); older headers lack it.
struct PidfdInfo {
  std::uint64_t mask;
  std::uint64_t cgroupid;
  std::uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
  std::int32_t exit_code;
};
static_assert(sizeof(PidfdInfo) == 64);
constexpr unsigned long kPidfdGetInfo = _IOWR(0xFF, 11, PidfdInfo);
constexpr std::uint64_t kPidfdInfoExit = 1u << 3;

}  // namespace

Spawned spawn_worker_process(const SpawnRequest& req) {
  Spawned out;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, req.fds[0], abi::kWorkerWindowFd);
  posix_spawn_file_actions_adddup2(&fa, req.fds[1], abi::kWorkerControlFd);
  posix_spawn_file_actions_adddup2(&fa, req.fds[2], abi::kWorkerFdPassFd);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addclosefrom_np(&fa, abi::kWorkerFdPassFd + 1);

  // Default for what the VM handles (its handlers are its code), ignored for
  // what it ignores (exec keeps SIG_IGN); nothing blocked: nothing may hide
  // a crash (worker/crash_report.cc still reports a fault's SIGFPE).
  sigset_t handled, none;
  sigemptyset(&handled);
  sigemptyset(&none);
  for (int s = 1; s < NSIG; ++s) {
    struct sigaction sa{};
    if (sigaction(s, nullptr, &sa) == 0 && sa.sa_handler != SIG_IGN) sigaddset(&handled, s);
  }
  posix_spawnattr_t at;
  posix_spawnattr_init(&at);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &handled);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSID);

  int r = posix_spawn(&out.pid, req.exe, &fa, &at, req.argv, req.env);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  if (r != 0) {
    out.pid = -1;
    out.error = r;
    return out;
  }
  out.pidfd = static_cast<int>(syscall(SYS_pidfd_open, out.pid, 0));
  if (out.pidfd < 0) out.error = errno;
  return out;
}

int reaped_exit_status(int pidfd) {
  // The pidfd turns readable at exit; the status is stored when the kernel
  // reaps the process, an instant later.
  for (int tries = 0; tries < 100; ++tries) {
    PidfdInfo info{};
    info.mask = kPidfdInfoExit;
    if (ioctl(pidfd, kPidfdGetInfo, &info) != 0 && errno != ESRCH) return -1;  // before Linux 6.15
    if (info.mask & kPidfdInfoExit) return info.exit_code;
    timespec ts{0, 1000000};
    nanosleep(&ts, nullptr);
  }
  return -1;
}

}  // namespace nifshim
