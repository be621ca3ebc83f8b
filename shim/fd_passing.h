// Passing a file descriptor between the worker and the VM (enif_select):
// one SCM_RIGHTS message carrying the descriptor and a 64-bit tag on a
// SOCK_SEQPACKET socket. The tag is the worker's token for the descriptor and
// its own number for it (fd_tag).
#pragma once

#include <cstdint>

namespace nifshim {

// token: the worker's serial for one sending of one descriptor (never 0).
constexpr std::uint64_t fd_tag(std::uint32_t token, int worker_fd) {
  return std::uint64_t{token} << 32 | static_cast<std::uint32_t>(worker_fd);
}
constexpr std::uint32_t fd_tag_token(std::uint64_t tag) { return static_cast<std::uint32_t>(tag >> 32); }
constexpr int fd_tag_fd(std::uint64_t tag) { return static_cast<int>(static_cast<std::uint32_t>(tag)); }

bool fd_send(int sock, int fd, std::uint64_t tag);
// Receives one without waiting (false if none is there); *fd is the
// receiver's copy (close-on-exec).
bool fd_receive(int sock, int* fd, std::uint64_t* tag);

}  // namespace nifshim
