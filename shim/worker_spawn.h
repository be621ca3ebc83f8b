// Starting a nifshim-worker process so that it looks like the VM's own
// process to the NIF it hosts (README "What a NIF sees"), and learning how
// it ended. The executor part of the worker's life; worker_process.cc tends
// it afterwards.
#pragma once

#include <sys/types.h>

namespace nifshim {

struct SpawnRequest {
  const char* exe;
  char* const* argv;
  char* const* env;
  int fds[3];  // dup'ed onto 3, 4, 5 in the child; the caller closes its copies
};

struct Spawned {
  pid_t pid = -1;
  int pidfd = -1;
  int error = 0;  // errno of what failed
};

// A child that:
//  - keeps the VM's ignored signals ignored (SIGPIPE, SIGCHLD, SIGFPE under
//    ERTS), has every other signal at its default and none blocked (as
//    every ERTS thread);
//  - holds only fds 0-2 (stdin /dev/null; stdout and stderr the VM's) and
//    the three of the request: whatever the VM left without close-on-exec
//    (ERTS's sockets) is closed before exec;
//  - leads its own session, so the terminal's signals (Ctrl-C, Ctrl-Z,
//    hangup, window size) go to the VM only.
Spawned spawn_worker_process(const SpawnRequest& req);

// How the process of `pidfd` ended, as a wait status (WIFSIGNALED...), or -1
// if the kernel does not say. beam.smp ignores SIGCHLD, so the kernel reaps
// its children itself and waitid finds none; Linux 6.15 and later keep the
// status for the pidfd (PIDFD_GET_INFO, PIDFD_INFO_EXIT).
int reaped_exit_status(int pidfd);

}  // namespace nifshim
