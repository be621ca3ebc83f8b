// window_peer: a separate process that maps a running VM's window at the
// identical address and reads or writes through the VM's own pointers.
//
//   window_peer PID OP...      OP is one of
//     read ADDR LEN            print LEN bytes at ADDR as hex
//     write ADDR HEX           write the bytes HEX at ADDR, print "ok"
//     readw ADDR               print the 64-bit word at ADDR (decimal)
//     writew ADDR VALUE        write the 64-bit word VALUE at ADDR, print "ok"
// The first line printed is "window BASE SIZE". Exit status 0 on success.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "window.h"
#include "window_abi.h"

namespace {

std::string memfd_link() { return std::string("/memfd:") + nifshim::abi::kWindowMemfdName; }

// The window memfd among the VM's open descriptors, reopened here.
int open_window_fd(const char* pid) {
  std::string dir = std::string("/proc/") + pid + "/fd";
  DIR* d = opendir(dir.c_str());
  if (!d) return -1;
  int fd = -1;
  while (dirent* e = readdir(d)) {
    std::string path = dir + "/" + e->d_name;
    char target[256];
    ssize_t n = readlink(path.c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    if (std::strncmp(target, memfd_link().c_str(), memfd_link().size()) == 0) {
      fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
      break;
    }
  }
  closedir(d);
  return fd;
}

// The window's base: start - file offset of any of its lines in /proc/PID/maps.
std::uintptr_t window_base(const char* pid) {
  std::string maps = std::string("/proc/") + pid + "/maps";
  FILE* f = std::fopen(maps.c_str(), "r");
  if (!f) return 0;
  char line[512];
  std::uintptr_t base = 0;
  while (std::fgets(line, sizeof line, f)) {
    if (!std::strstr(line, memfd_link().c_str())) continue;
    unsigned long lo, hi, off;
    char perms[8];
    if (std::sscanf(line, "%lx-%lx %7s %lx", &lo, &hi, perms, &off) == 4) {
      base = lo - off;
      break;
    }
  }
  std::fclose(f);
  return base;
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PID [read ADDR LEN|write ADDR HEX|readw ADDR|writew ADDR V]...\n", argv[0]);
    return 2;
  }
  int fd = open_window_fd(argv[1]);
  std::uintptr_t base = window_base(argv[1]);
  struct stat st;
  if (fd < 0 || base == 0 || fstat(fd, &st) != 0) {
    std::fprintf(stderr, "window_peer: process %s has no nifshim window\n", argv[1]);
    return 1;
  }
  nifshim::Window w;
  int r = nifshim::window_attach(fd, base, static_cast<std::size_t>(st.st_size), &w);
  if (r != 0) {
    std::fprintf(stderr, "window_peer: cannot map the window at %#lx: %s\n",
                 static_cast<unsigned long>(base), std::strerror(-r));
    return 1;
  }
  std::printf("window %lu %lu\n", static_cast<unsigned long>(w.base), static_cast<unsigned long>(w.size));
  for (int i = 2; i < argc; ++i) {
    std::string op = argv[i];
    if (i + 1 >= argc) return 2;
    std::uintptr_t a = std::strtoull(argv[++i], nullptr, 0);
    if (!w.contains(a, 8)) {
      std::fprintf(stderr, "window_peer: %#lx is outside the window\n", static_cast<unsigned long>(a));
      return 1;
    }
    auto* p = reinterpret_cast<unsigned char*>(a);
    if (op == "read" && i + 1 < argc) {
      std::size_t len = std::strtoull(argv[++i], nullptr, 0);
      for (std::size_t k = 0; k < len; ++k) std::printf("%02x", p[k]);
      std::printf("\n");
    } else if (op == "write" && i + 1 < argc) {
      const char* hex = argv[++i];
      for (std::size_t k = 0; hex[2 * k] && hex[2 * k + 1]; ++k)
        p[k] = static_cast<unsigned char>(hexval(hex[2 * k]) * 16 + hexval(hex[2 * k + 1]));
      std::printf("ok\n");
    } else if (op == "readw") {
      std::uint64_t v;
      std::memcpy(&v, p, 8);
      std::printf("%" PRIu64 "\n", v);
    } else if (op == "writew" && i + 1 < argc) {
      std::uint64_t v = std::strtoull(argv[++i], nullptr, 0);
      std::memcpy(p, &v, 8);
      std::printf("ok\n");
    } else {
      std::fprintf(stderr, "window_peer: bad operation %s\n", op.c_str());
      return 2;
    }
  }
  return 0;
}
