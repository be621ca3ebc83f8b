// Which NIF libraries are isolated. Every library that exports nif_init is,
// unless the environment says otherwise:
//   NIFSHIM_ISOLATE      glob patterns (":"- or ","-separated), default "*"
//   NIFSHIM_NO_ISOLATE   glob patterns excluded from isolation
// A pattern matches the library's file name without ".so" (crypto), its file
// name (crypto.so) or its full path.
#pragma once

namespace nifshim {

bool policy_isolates(const char* path);

}  // namespace nifshim
