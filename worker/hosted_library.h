// The real NIF library this worker hosts: loading it (dlopen, nif_init) and
// describing its entry to the VM; the functions the VM calls by index; the
// file descriptors it has handed to the VM through enif_select.
#pragma once

#include <erl_nif.h>

#include <cstdint>

#include "control_abi.h"

namespace nifshim::worker {

// Loads buf->path and fills *buf (status, entry description).
void host_library(abi::LoadBuffer* buf, std::size_t buf_size);

// Function #i of the library's entry, or nullptr.
ERL_NIF_TERM (*hosted_function(unsigned i))(ErlNifEnv*, int, const ERL_NIF_TERM[]);

// enif_select's file descriptors. The token by which the VM knows its copy
// of `fd`; the first time, the descriptor is sent to the VM with a new token.
// 0 if it cannot be sent (errno set).
std::uint32_t selected_fd_token(int fd);
// ERTS is about to call the stop callback for `fd`: once the NIF closes it,
// its number may name another file, which is sent anew.
void forget_selected_fd(int fd);

}  // namespace nifshim::worker
