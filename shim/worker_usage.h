// What a worker process uses, read from /proc for nifshim:workers().
#pragma once

#include <sys/types.h>

namespace nifshim {

struct WorkerUsage {
  long rss_bytes = 0;      // VmRSS: resident, including window pages it touched
  long private_bytes = 0;  // Private_Clean + Private_Dirty: pages no other process maps
  long cpu_ms = 0;         // user + system time
};

// false if the process is gone (the figures stay 0).
bool read_worker_usage(pid_t pid, WorkerUsage* u);

}  // namespace nifshim
