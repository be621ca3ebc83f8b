// The real NIF library this worker hosts: loading it (dlopen, nif_init) and
// describing its entry to the VM; the functions the VM calls by index; the
// file descriptors it has handed to the VM through enif_select.
#pragma once

#include <erl_nif.h>

#include "control_abi.h"

namespace nifshim::worker {

// Loads buf->path and fills *buf (status, entry description).
void host_library(abi::LoadBuffer* buf, std::size_t buf_size);

// Function #i of the library's entry, or nullptr.
ERL_NIF_TERM (*hosted_function(unsigned i))(ErlNifEnv*, int, const ERL_NIF_TERM[]);

// enif_select's file descriptors: whether the VM has a copy of `fd`.
bool selected_fd_known(int fd);
void selected_fd_add(int fd);
void forget_selected_fd(int fd);

}  // namespace nifshim::worker
