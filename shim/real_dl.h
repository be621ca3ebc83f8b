// The dynamic linker's own dlopen/dlerror (the shim interposes both; see
// interpose_dl.cc) and dlsym (not interposed).
#pragma once

namespace nifshim {

void* real_dlopen(const char* path, int flags);
char* real_dlerror();
void* real_dlsym(void* handle, const char* name);

}  // namespace nifshim
