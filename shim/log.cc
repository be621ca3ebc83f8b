// Raw stderr logging; see log.h.
#include "log.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

#include "window_abi.h"

namespace nifshim {
namespace {

bool g_debug = false;

void vlog(const char* fmt, va_list ap) {
  char buf[1024];
  int n = std::snprintf(buf, sizeof buf, "nifshim[%d]: ", static_cast<int>(getpid()));
  if (n < 0) return;
  int m = std::vsnprintf(buf + n, sizeof buf - n, fmt, ap);
  if (m < 0) return;
  size_t len = static_cast<size_t>(n) + static_cast<size_t>(m);
  if (len > sizeof buf - 2) len = sizeof buf - 2;
  buf[len++] = '\n';
  // One write per line; a short write of a log line is not worth a retry loop.
  ssize_t ignored = write(STDERR_FILENO, buf, len);
  (void)ignored;
}

}  // namespace

void log_error(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog(fmt, ap);
  va_end(ap);
}

void log_debug(const char* fmt, ...) {
  if (!g_debug) return;
  va_list ap;
  va_start(ap, fmt);
  vlog(fmt, ap);
  va_end(ap);
}

void log_init_from_env() {
  const char* v = std::getenv(abi::kEnvDebug);
  g_debug = v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

}  // namespace nifshim
