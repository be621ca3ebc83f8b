// The isolation policy; see policy.h.
#include "policy.h"

#include <cstdlib>
#include <cstring>
#include <fnmatch.h>

namespace nifshim {
namespace {

bool matches(const char* pat, const char* path) {
  const char* file = std::strrchr(path, '/');
  file = file ? file + 1 : path;
  char stem[256];
  std::strncpy(stem, file, sizeof stem - 1);
  stem[sizeof stem - 1] = '\0';
  if (char* dot = std::strstr(stem, ".so")) *dot = '\0';
  return fnmatch(pat, stem, 0) == 0 || fnmatch(pat, file, 0) == 0 || fnmatch(pat, path, 0) == 0;
}

bool matches_any(const char* patterns, const char* path) {
  const char* p = patterns;
  while (*p) {
    std::size_t n = std::strcspn(p, ":,");
    char pat[512];
    if (n > 0 && n < sizeof pat) {
      std::memcpy(pat, p, n);
      pat[n] = '\0';
      if (matches(pat, path)) return true;
    }
    p += n;
    if (*p) ++p;
  }
  return false;
}

}  // namespace

long policy_deadline_ms(const char* path, bool dirty) {
  const char* spec = std::getenv(dirty ? "NIFSHIM_DIRTY_DEADLINE" : "NIFSHIM_DEADLINE");
  if (spec == nullptr) return 0;
  for (const char* p = spec; *p;) {
    std::size_t n = std::strcspn(p, ",");
    char item[512];
    if (n > 0 && n < sizeof item) {
      std::memcpy(item, p, n);
      item[n] = '\0';
      char* eq = std::strchr(item, '=');
      if (eq == nullptr) return std::strtol(item, nullptr, 10);
      *eq = '\0';
      if (matches(item, path)) return std::strtol(eq + 1, nullptr, 10);
    }
    p += n;
    if (*p) ++p;
  }
  return 0;
}

bool policy_isolates(const char* path) {
  const char* inc = std::getenv("NIFSHIM_ISOLATE");
  const char* exc = std::getenv("NIFSHIM_NO_ISOLATE");
  if (inc && *inc && !matches_any(inc, path)) return false;
  return !(exc && *exc && matches_any(exc, path));
}

}  // namespace nifshim
