// SCM_RIGHTS messages; see fd_passing.h.
#include "fd_passing.h"

#include <cstring>
#include <sys/socket.h>

namespace nifshim {
namespace {

struct FdMessage {
  std::uint64_t tag;
  iovec iov{&tag, sizeof tag};
  alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(int))] = {};
  msghdr mh{};
  FdMessage() {
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctrl;
    mh.msg_controllen = sizeof ctrl;
  }
};

}  // namespace

bool fd_send(int sock, int fd, std::uint64_t tag) {
  FdMessage m;
  m.tag = tag;
  cmsghdr* cm = CMSG_FIRSTHDR(&m.mh);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(cm), &fd, sizeof fd);
  return sendmsg(sock, &m.mh, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof m.tag);
}

bool fd_receive(int sock, int* fd, std::uint64_t* tag) {
  FdMessage m;
  if (recvmsg(sock, &m.mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT) != static_cast<ssize_t>(sizeof m.tag)) return false;
  cmsghdr* cm = CMSG_FIRSTHDR(&m.mh);
  if (cm == nullptr || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) return false;
  std::memcpy(fd, CMSG_DATA(cm), sizeof *fd);
  *tag = m.tag;
  return true;
}

}  // namespace nifshim
