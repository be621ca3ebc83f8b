// The isolation policy; see policy.h.
#include "policy.h"

#include <cstdlib>
#include <cstring>
#include <fnmatch.h>

namespace nifshim {
namespace {

bool matches_any(const char* patterns, const char* path) {
  const char* file = std::strrchr(path, '/');
  file = file ? file + 1 : path;
  char stem[256];
  std::strncpy(stem, file, sizeof stem - 1);
  stem[sizeof stem - 1] = '\0';
  if (char* dot = std::strstr(stem, ".so")) *dot = '\0';
  const char* p = patterns;
  while (*p) {
    std::size_t n = std::strcspn(p, ":,");
    char pat[512];
    if (n > 0 && n < sizeof pat) {
      std::memcpy(pat, p, n);
      pat[n] = '\0';
      if (fnmatch(pat, stem, 0) == 0 || fnmatch(pat, file, 0) == 0 || fnmatch(pat, path, 0) == 0)
        return true;
    }
    p += n;
    if (*p) ++p;
  }
  return false;
}

}  // namespace

bool policy_isolates(const char* path) {
  const char* inc = std::getenv("NIFSHIM_ISOLATE");
  const char* exc = std::getenv("NIFSHIM_NO_ISOLATE");
  if (inc && *inc && !matches_any(inc, path)) return false;
  return !(exc && *exc && matches_any(exc, path));
}

}  // namespace nifshim
