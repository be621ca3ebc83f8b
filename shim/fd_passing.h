// Passing a file descriptor between the worker and the VM (enif_select):
// one SCM_RIGHTS message carrying the descriptor and an int tag (the
// worker's own number for it) on a SOCK_SEQPACKET socket.
#pragma once

namespace nifshim {

bool fd_send(int sock, int fd, int tag);
// Receives one; *fd is the receiver's copy (close-on-exec).
bool fd_receive(int sock, int* fd, int* tag);

}  // namespace nifshim
