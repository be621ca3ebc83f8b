// The real enif functions of beam.smp, found at run time with
// dlsym(RTLD_DEFAULT). The shim does not link against them: it is loaded into
// every process that inherits LD_PRELOAD, and only beam.smp has them.
#pragma once

#include <erl_nif.h>

#include "enif_api.h"

namespace nifshim {

// The real function behind a forwarded or custom request id.
void* real_enif_fn(abi::ApiId id);

// The ones the shim calls itself.
struct RealEnif {
#define NIFSHIM_REAL(name) decltype(&::enif_##name) name;
#include "real_enif_list.h"
#undef NIFSHIM_REAL
};
const RealEnif& real();

// Resolves everything; false (with a log line) if this is not a VM.
bool real_enif_init();

}  // namespace nifshim
