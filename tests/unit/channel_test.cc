// Unit tests of the call channel: hand-over between two processes through
// shared memory (a forked child standing in for the worker), nesting, and
// giving up when the peer is gone.
#include <doctest/doctest.h>

#include <csignal>
#include <new>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "channel.h"

using namespace nifshim;

namespace {

abi::Channel* shared_channel(abi::Side first) {
  void* p = mmap(nullptr, sizeof(abi::Channel), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  REQUIRE(p != MAP_FAILED);
  auto* c = new (p) abi::Channel;
  channel_init(c, first);
  return c;
}

bool never_gone(void*) { return true; }
bool gone(void*) { return false; }

}  // namespace

TEST_CASE("channel: ping-pong between processes, with and without spinning") {
  for (std::uint64_t spin : {std::uint64_t{0}, std::uint64_t{50000}}) {
    abi::Channel* c = shared_channel(abi::kSideVm);
    pid_t pid = fork();
    if (pid == 0) {  // the "worker": add one to slot 0 and hand back
      for (int i = 0; i < 2000; ++i) {
        channel_wait(c, abi::kSideWorker, spin, 0, nullptr, nullptr);
        c->msg.slot[0] += 1;
        channel_post(c, abi::kSideVm);
      }
      _exit(0);
    }
    c->msg.slot[0] = 0;
    for (int i = 0; i < 2000; ++i) {
      c->msg.slot[0] += 1;
      channel_post(c, abi::kSideWorker);
      REQUIRE(channel_wait(c, abi::kSideVm, spin, 1000, never_gone, nullptr));
    }
    CHECK(c->msg.slot[0] == 4000);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st));
    munmap(c, sizeof *c);
  }
}

TEST_CASE("channel: nested requests alternate on the same channel") {
  // VM sends a call; the worker answers with a request; the VM serves it and
  // the worker then returns: the message kinds arrive in order.
  abi::Channel* c = shared_channel(abi::kSideVm);
  pid_t pid = fork();
  if (pid == 0) {
    channel_wait(c, abi::kSideWorker, 1000, 0, nullptr, nullptr);
    if (c->msg.kind != abi::Msg::kCall) _exit(1);
    c->msg.kind = abi::Msg::kEnif;
    channel_post(c, abi::kSideVm);
    channel_wait(c, abi::kSideWorker, 1000, 0, nullptr, nullptr);
    if (c->msg.kind != abi::Msg::kReply || c->msg.slot[0] != 7) _exit(2);
    c->msg.kind = abi::Msg::kReturn;
    c->msg.slot[0] = 42;
    channel_post(c, abi::kSideVm);
    _exit(0);
  }
  c->msg.kind = abi::Msg::kCall;
  channel_post(c, abi::kSideWorker);
  REQUIRE(channel_wait(c, abi::kSideVm, 1000, 1000, never_gone, nullptr));
  CHECK(c->msg.kind == abi::Msg::kEnif);
  c->msg.kind = abi::Msg::kReply;
  c->msg.slot[0] = 7;
  channel_post(c, abi::kSideWorker);
  REQUIRE(channel_wait(c, abi::kSideVm, 1000, 1000, never_gone, nullptr));
  CHECK(c->msg.kind == abi::Msg::kReturn);
  CHECK(c->msg.slot[0] == 42);
  int st = 0;
  waitpid(pid, &st, 0);
  CHECK(WEXITSTATUS(st) == 0);
  munmap(c, sizeof *c);
}

TEST_CASE("channel: a waiter gives up when the peer is gone") {
  abi::Channel* c = shared_channel(abi::kSideWorker);
  CHECK_FALSE(channel_wait(c, abi::kSideVm, 1000, 10, gone, nullptr));
  // An abandoned channel wakes a sleeper at once, which then asks.
  pid_t pid = fork();
  if (pid == 0) {
    usleep(50000);
    channel_abandon(c);
    _exit(0);
  }
  CHECK_FALSE(channel_wait(c, abi::kSideVm, 0, 0, [](void* p) {
    return static_cast<abi::Channel*>(p)->turn.load() != abi::kSideNone;
  }, c));
  waitpid(pid, nullptr, 0);
  munmap(c, sizeof *c);
}
