// Test hooks of the worker, all in one place: NIFSHIM_TEST_DIE_AT stops or
// crashes the worker at a named point of the channel protocol, so that a
// test can check each state ends in a clean error for the VM's callers
// (tests/erlang/isolation_tests.erl fault/2). Unset, every hook is one
// predictable branch.
#pragma once

namespace nifshim::worker {

enum class DiePoint {
  kCall,      // a kCall taken, the NIF not yet run
  kEnif,      // an enif request posted, its reply not yet read
  kCallback,  // a resource callback taken (a destructor), not yet run
  kReturn,    // a kReturn posted: between an answer and the next message
  kOffheap,   // an off-heap term linked on the call's heap, not yet reported
  kLoad,      // load taken (only in a restart's worker: the shim passes the hook so)
};

// NIFSHIM_TEST_DIE_AT=LIB:POINT:HOW (LIB: this worker's library name;
// POINT: call, enif, callback, return, offheap, load; HOW: stop, the worker
// stops itself (SIGSTOP) for the test to kill from outside, or crash, it
// raises SIGSEGV). Fires once, at the first time the point is reached after
// the first kCall (load: at once).
void test_die_point(DiePoint p);

}  // namespace nifshim::worker
