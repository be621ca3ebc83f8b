// Reads a worker's memory and CPU time from /proc; see worker_usage.h.
#include "worker_usage.h"

#include <cstdio>
#include <cstring>
#include <unistd.h>

namespace nifshim {
namespace {

// The value in kB of each "Key: N kB" line of /proc/PID/FILE that starts with
// one of keys, added up.
long sum_kb(pid_t pid, const char* file, const char* const* keys, int nkeys, bool* ok) {
  char path[64], line[256];
  std::snprintf(path, sizeof path, "/proc/%d/%s", int(pid), file);
  std::FILE* f = std::fopen(path, "re");
  if (f == nullptr) {
    *ok = false;
    return 0;
  }
  long total = 0;
  while (std::fgets(line, sizeof line, f)) {
    for (int i = 0; i < nkeys; ++i) {
      const std::size_t n = std::strlen(keys[i]);
      long kb = 0;
      if (std::strncmp(line, keys[i], n) == 0 && std::sscanf(line + n, " %ld", &kb) == 1) total += kb;
    }
  }
  std::fclose(f);
  return total * 1024;
}

long cpu_ms(pid_t pid, bool* ok) {
  char path[64], buf[1024];
  std::snprintf(path, sizeof path, "/proc/%d/stat", int(pid));
  std::FILE* f = std::fopen(path, "re");
  if (f == nullptr) {
    *ok = false;
    return 0;
  }
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  // Fields after the command name (which may hold spaces and parentheses):
  // state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
  const char* p = std::strrchr(buf, ')');
  unsigned long ut = 0, st = 0;
  if (p == nullptr || std::sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) {
    *ok = false;
    return 0;
  }
  static const long hz = sysconf(_SC_CLK_TCK);
  const unsigned long ticks = static_cast<unsigned long>(hz > 0 ? hz : 100);
  return long((ut + st) * 1000 / ticks);
}

}  // namespace

bool read_worker_usage(pid_t pid, WorkerUsage* u) {
  bool ok = pid > 0;
  if (!ok) return false;
  static const char* const kRss[] = {"VmRSS:"};
  static const char* const kPrivate[] = {"Private_Clean:", "Private_Dirty:"};
  u->rss_bytes = sum_kb(pid, "status", kRss, 1, &ok);
  u->private_bytes = sum_kb(pid, "smaps_rollup", kPrivate, 2, &ok);
  u->cpu_ms = cpu_ms(pid, &ok);
  return ok;
}

}  // namespace nifshim
