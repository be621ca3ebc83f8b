// Which NIF libraries are isolated. Every library that exports nif_init is,
// unless the environment says otherwise:
//   NIFSHIM_ISOLATE      glob patterns (":"- or ","-separated), default "*"
//   NIFSHIM_NO_ISOLATE   glob patterns excluded from isolation
// A pattern matches the library's file name without ".so" (crypto), its file
// name (crypto.so) or its full path.
#pragma once

namespace nifshim {

bool policy_isolates(const char* path);

// Per-call deadline in ms for the library at `path` (0: none), from
//   NIFSHIM_DEADLINE         normal NIFs, e.g. "5000" or "crypto=200,*=5000"
//   NIFSHIM_DIRTY_DEADLINE   dirty NIFs, the same form
// A bare number applies to every library; lib=ms entries match like
// NIFSHIM_ISOLATE patterns; the first match wins.
long policy_deadline_ms(const char* path, bool dirty);

}  // namespace nifshim
