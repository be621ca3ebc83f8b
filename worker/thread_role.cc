// Per-thread role of worker threads; see thread_role.h.
#include "thread_role.h"

namespace nifshim::worker {

ThreadRole& thread_role() {
  static thread_local ThreadRole role;
  return role;
}

void thread_role_set_nif_thread() { thread_role() = ThreadRole{}; }

}  // namespace nifshim::worker
