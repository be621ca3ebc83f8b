// Naming and bounding the cores of crashed workers; see core_dumps.h.
#include "core_dumps.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "log.h"

namespace nifshim {
namespace {

int keep_limit() {
  static const int n = [] {
    const char* s = std::getenv("NIFSHIM_CORE_KEEP");
    if (s == nullptr || *s == 0) return 3;
    char* end = nullptr;
    long v = std::strtol(s, &end, 10);
    if (*end != 0 || v < 1 || v > 1000) {
      log_error("NIFSHIM_CORE_KEEP=%s is not a number from 1 to 1000; keeping 3", s);
      return 3;
    }
    return int(v);
  }();
  return n;
}

// What the kernel does with cores (/proc/sys/kernel/core_pattern).
void core_pattern(char* buf, std::size_t len) {
  buf[0] = 0;
  if (std::FILE* f = std::fopen("/proc/sys/kernel/core_pattern", "re")) {
    if (std::fgets(buf, int(len), f) == nullptr) buf[0] = 0;
    std::fclose(f);
  }
  buf[std::strcspn(buf, "\n")] = 0;
}

// Removes the oldest DIR/nif-LIB-*.core beyond the limit.
void prune(const char* dir, const char* lib) {
  char prefix[128];
  std::snprintf(prefix, sizeof prefix, "nif-%s-", lib);
  struct Entry {
    char name[256];
    timespec mtime;
  };
  Entry found[64];
  int n = 0;
  DIR* d = opendir(dir);
  if (d == nullptr) return;
  const int dfd = dup(dirfd(d));
  while (dirent* e = readdir(d)) {
    const std::size_t l = std::strlen(e->d_name);
    if (std::strncmp(e->d_name, prefix, std::strlen(prefix)) != 0 || l < 5 ||
        std::strcmp(e->d_name + l - 5, ".core") != 0)
      continue;
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, 0) != 0) continue;
    if (n == 64) break;
    std::snprintf(found[n].name, sizeof found[n].name, "%s", e->d_name);
    found[n++].mtime = st.st_mtim;
  }
  closedir(d);
  if (dfd < 0) return;
  while (n > keep_limit()) {
    int oldest = 0;
    for (int i = 1; i < n; ++i) {
      const timespec a = found[i].mtime, b = found[oldest].mtime;
      if (a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec)) oldest = i;
    }
    if (unlinkat(dfd, found[oldest].name, 0) == 0)
      log_debug("core dumps: removed %s/%s (more than %d for %s)", dir, found[oldest].name, keep_limit(), lib);
    found[oldest] = found[--n];
  }
  close(dfd);
}

}  // namespace

bool dumps_core(int sig) {
  switch (sig) {
    case SIGQUIT: case SIGILL: case SIGTRAP: case SIGABRT: case SIGBUS: case SIGFPE:
    case SIGSEGV: case SIGXCPU: case SIGXFSZ: case SIGSYS:
      return true;
    default:
      return false;
  }
}

const char* core_dir() {
  static const char* dir = [] {
    const char* s = std::getenv("NIFSHIM_CORE_DIR");
    return s != nullptr && *s != 0 ? s : nullptr;
  }();
  return dir;
}

bool collect_core(const char* lib, pid_t pid, char* out, std::size_t outlen) {
  const char* dir = core_dir();
  if (dir == nullptr) return false;
  char pattern[256];
  core_pattern(pattern, sizeof pattern);
  if (pattern[0] == '|' || pattern[0] == '/') {
    std::snprintf(out, outlen, "the system's core_pattern (%s) took the core", pattern);
    return true;
  }
  // A relative pattern: the worker wrote it in DIR. The usual names first.
  char from[4352], to[4352];
  const char* names[] = {"core.%d", "core"};
  bool moved = false;
  std::snprintf(to, sizeof to, "%s/nif-%s-%d.core", dir, lib, int(pid));
  for (const char* fmt : names) {
    char name[64];
    std::snprintf(name, sizeof name, fmt, int(pid));
    std::snprintf(from, sizeof from, "%s/%s", dir, name);
    if (rename(from, to) == 0) {
      moved = true;
      break;
    }
  }
  if (!moved) {
    std::snprintf(out, outlen, "no core in %s (core_pattern %s)", dir, pattern);
    return true;
  }
  prune(dir, lib);
  std::snprintf(out, outlen, "%s", to);
  return true;
}

}  // namespace nifshim
