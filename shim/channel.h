// Waiting and handing over on a call channel (abi/channel_abi.h), shared by
// the shim and the worker. A side spins briefly (a round trip between two
// busy CPUs is ~100 ns) and then sleeps on a process-shared futex, so an idle
// worker uses no CPU.
#pragma once

#include <cstdint>

#include "channel_abi.h"

namespace nifshim {

// `first`: the side that writes the first message.
void channel_init(abi::Channel* c, abi::Side first);

// Hands the channel to `to` (after the message is written) and wakes it if
// it sleeps.
void channel_post(abi::Channel* c, abi::Side to);

// Waits until it is `me`'s turn. `spin_ns`: how long to spin before
// sleeping. `timeout_ms` > 0 bounds each sleep; after each timeout
// `still_waiting(arg)` is asked and a false answer ends the wait with false.
// Returns true when it is `me`'s turn.
bool channel_wait(abi::Channel* c, abi::Side me, std::uint64_t spin_ns, int timeout_ms,
                  bool (*still_waiting)(void*), void* arg);

// The peer is gone: hands the channel to nobody and wakes every sleeper, who
// then asks its still_waiting() and gives up.
void channel_abandon(abi::Channel* c);

}  // namespace nifshim
