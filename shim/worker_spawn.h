// Starting a nifshim-worker process so that it looks like the VM's own
// process to the NIF it hosts (README "What a NIF sees"). The executor part
// of the worker's life; worker_process.cc tends it afterwards.
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
  int pidfd = -1;  // the only handle on the child: it must be reaped through it
  int error = 0;   // errno of what failed (clone, or execve in the child)
};

// A child that:
//  - keeps the VM's ignored signals ignored (exec keeps SIG_IGN: SIGPIPE,
//    SIGCHLD, SIGFPE under ERTS), has every other signal at its default and
//    none blocked (as every ERTS thread);
//  - holds only fds 0-2 (stdin /dev/null; stdout and stderr the VM's) and
//    the three of the request: whatever the VM left without close-on-exec
//    (ERTS's sockets) is closed before exec;
//  - leads its own session, so the terminal's signals (Ctrl-C, Ctrl-Z,
//    hangup, window size) go to the VM only;
//  - reports its death to nobody by signal (exit signal 0): beam.smp ignores
//    SIGCHLD, which makes the kernel reap SIGCHLD children unseen, but a child
//    with another exit signal stays a zombie until waitid(P_PIDFD, __WALL)
//    reads how it died.
Spawned spawn_worker_process(const SpawnRequest& req);

}  // namespace nifshim
