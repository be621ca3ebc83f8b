// Running the worker's enif requests in the VM, on the thread that waits on
// the channel (the one that owns the env). Forwarded functions are generated
// from abi/enif_api.def (enif_serve.cc); custom and private requests are in
// enif_serve_custom.cc.
#pragma once

#include <cstdint>

#include "channel_abi.h"
#include "enif_api.h"

namespace nifshim {

class Worker;

// Serves the kEnif message in c and writes the kReply (not yet posted).
// *top is this thread's data-stack top on c: nested messages go above the
// request's own payload while the real function runs.
void serve_enif(Worker* w, abi::Channel* c, std::uint64_t* top);

// The custom and private requests; returns slot[0] of the reply and may set
// reply_extra (slot[1]).
std::uint64_t serve_custom(Worker* w, abi::ApiId id, const std::uint64_t* slot,
                           std::uint64_t* reply_extra);

}  // namespace nifshim
