// Per-thread role of worker threads; see thread_role.h.
#include "thread_role.h"

namespace nifshim::worker {

void thread_role_set_nif_thread() { thread_role() = ThreadRole{}; }

}  // namespace nifshim::worker
