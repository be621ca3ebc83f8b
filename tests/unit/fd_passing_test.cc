// Passing descriptors with their tags (shim/fd_passing.h), as enif_select
// does between the worker and the VM.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd_passing.h"

using namespace nifshim;

namespace {

struct SocketPair {
  int s[2] = {-1, -1};
  SocketPair() { REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, s) == 0); }
  ~SocketPair() {
    ::close(s[0]);
    ::close(s[1]);
  }
};

bool same_file(int a, int b) {
  struct stat x{}, y{};
  return fstat(a, &x) == 0 && fstat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

}  // namespace

TEST_CASE("fd_tag keeps the token and the worker's number apart") {
  CHECK(fd_tag_token(fd_tag(1, 0)) == 1);
  CHECK(fd_tag_fd(fd_tag(1, 0)) == 0);
  CHECK(fd_tag_token(fd_tag(0xffffffffu, 0x7fffffff)) == 0xffffffffu);
  CHECK(fd_tag_fd(fd_tag(0xffffffffu, 0x7fffffff)) == 0x7fffffff);
  CHECK(fd_tag_token(fd_tag(7, -1)) == 7);
  CHECK(fd_tag_fd(fd_tag(7, -1)) == -1);
}

TEST_CASE("descriptors arrive in order with their tags; an empty socket is not waited on") {
  SocketPair sp;
  int p[2];
  REQUIRE(pipe(p) == 0);
  int got = -1;
  std::uint64_t tag = 0;
  CHECK_FALSE(fd_receive(sp.s[1], &got, &tag));  // nothing sent: false at once
  REQUIRE(fd_send(sp.s[0], p[0], fd_tag(1, p[0])));
  REQUIRE(fd_send(sp.s[0], p[1], fd_tag(2, p[1])));
  REQUIRE(fd_receive(sp.s[1], &got, &tag));
  CHECK(tag == fd_tag(1, p[0]));
  CHECK(got != p[0]);
  CHECK(same_file(got, p[0]));
  CHECK((fcntl(got, F_GETFD) & FD_CLOEXEC) != 0);
  ::close(got);
  REQUIRE(fd_receive(sp.s[1], &got, &tag));
  CHECK(tag == fd_tag(2, p[1]));
  CHECK(same_file(got, p[1]));
  // The copy is the same open file: written through it, read from the pipe.
  CHECK(write(got, "x", 1) == 1);
  char c = 0;
  CHECK(read(p[0], &c, 1) == 1);
  CHECK(c == 'x');
  ::close(got);
  CHECK_FALSE(fd_receive(sp.s[1], &got, &tag));
  ::close(p[0]);
  ::close(p[1]);
}

TEST_CASE("a message without a descriptor is refused") {
  SocketPair sp;
  const std::uint64_t plain = 42;
  REQUIRE(send(sp.s[0], &plain, sizeof plain, 0) == static_cast<ssize_t>(sizeof plain));
  int got = -1;
  std::uint64_t tag = 0;
  CHECK_FALSE(fd_receive(sp.s[1], &got, &tag));
  CHECK(got == -1);
}
