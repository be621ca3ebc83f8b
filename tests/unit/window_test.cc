// Unit tests of the memfd window: creation, fallback, attachment from another
// process at the identical address, and page release.
#include <doctest/doctest.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "window.h"
#include "window_abi.h"

using namespace nifshim;

namespace {
constexpr std::uintptr_t kTestBase = 0x300000000000ull;
constexpr std::size_t kSize = std::size_t{64} << 20;

void make_rw(std::uintptr_t a, std::size_t len) {
  REQUIRE(mprotect(reinterpret_cast<void*>(a), len, PROT_READ | PROT_WRITE) == 0);
}

// Runs `body` in a child process; returns its exit status (0 = all checks ok).
template <typename F>
int in_child(F body) {
  pid_t pid = fork();
  if (pid == 0) _exit(body());
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
}  // namespace

TEST_CASE("the window is created at the preferred base") {
  Window w;
  const char* why = nullptr;
  REQUIRE(window_create(kSize, kTestBase, abi::kCarrierAlign, &w, &why) == 0);
  CHECK(w.base == kTestBase);
  CHECK(w.size == kSize);
  CHECK(w.fd >= 0);
  CHECK((fcntl(w.fd, F_GETFD) & FD_CLOEXEC) != 0);  // helpers must not inherit it
  // Reserved: nothing else can be placed in it.
  void* p = mmap(reinterpret_cast<void*>(kTestBase + 4096), 4096, PROT_READ,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  CHECK(p == MAP_FAILED);
  window_destroy(&w);
}

TEST_CASE("a taken base falls back to a free aligned hole") {
  void* squat = mmap(reinterpret_cast<void*>(kTestBase), 4096, PROT_READ,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  REQUIRE(squat == reinterpret_cast<void*>(kTestBase));
  Window w;
  const char* why = nullptr;
  REQUIRE(window_create(kSize, kTestBase, abi::kCarrierAlign, &w, &why) == 0);
  CHECK(w.base != kTestBase);
  CHECK(w.base % abi::kCarrierAlign == 0);
  CHECK_FALSE(w.overlaps(kTestBase, 4096));
  window_destroy(&w);
  munmap(squat, 4096);
}

TEST_CASE("another process maps the window at the same base and shares bytes both ways") {
  Window w;
  const char* why = nullptr;
  REQUIRE(window_create(kSize, kTestBase, abi::kCarrierAlign, &w, &why) == 0);
  const std::uintptr_t a = w.base + 5 * abi::kCarrierAlign;
  make_rw(a, 4096);
  auto* bytes = reinterpret_cast<volatile char*>(a);
  std::strcpy(const_cast<char*>(bytes), "from the VM");

  int status = in_child([&] {
    // A fresh process has nothing at the base: drop what fork() copied.
    munmap(reinterpret_cast<void*>(w.base), w.size);
    Window peer;
    if (window_attach(w.fd, w.base, w.size, &peer) != 0) return 1;
    if (std::strcmp(const_cast<const char*>(bytes), "from the VM") != 0) return 2;
    std::strcpy(const_cast<char*>(bytes) + 64, "from the peer");
    // An occupied range is refused, not silently moved.
    Window again;
    if (window_attach(w.fd, w.base, w.size, &again) != -EEXIST) return 3;
    return 0;
  });
  CHECK(status == 0);
  CHECK(std::strcmp(const_cast<const char*>(bytes) + 64, "from the peer") == 0);
  window_destroy(&w);
}

TEST_CASE("discarded pages read as zero in every process") {
  Window w;
  const char* why = nullptr;
  REQUIRE(window_create(kSize, kTestBase, abi::kCarrierAlign, &w, &why) == 0);
  const std::uintptr_t a = w.base + abi::kCarrierAlign;
  make_rw(a, 8192);
  std::memset(reinterpret_cast<void*>(a), 0xab, 8192);
  REQUIRE(window_discard(w, a, 4096) == 0);
  CHECK(reinterpret_cast<unsigned char*>(a)[0] == 0);
  CHECK(reinterpret_cast<unsigned char*>(a)[4095] == 0);
  CHECK(reinterpret_cast<unsigned char*>(a)[4096] == 0xab);
  CHECK(window_discard(w, w.base + w.size, 4096) == -EINVAL);
  window_destroy(&w);
}

TEST_CASE("sizes parse with binary suffixes") {
  CHECK(parse_size("4096") == 4096);
  CHECK(parse_size("64G") == (std::size_t{64} << 30));
  CHECK(parse_size("512M") == (std::size_t{512} << 20));
  CHECK(parse_size("1T") == (std::size_t{1} << 40));
  CHECK(parse_size("2GiB") == (std::size_t{2} << 30));
  CHECK(parse_size("0x1000") == 4096);
  CHECK(parse_size("") == 0);
  CHECK(parse_size("lots") == 0);
  CHECK(parse_size("12Q") == 0);
  CHECK(parse_size("99999999999T") == 0);
}
