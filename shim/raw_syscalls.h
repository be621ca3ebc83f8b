// The kernel's mmap family, called directly. The shim interposes the libc
// symbols of the same names, so it must reach the kernel without going back
// through the PLT (and without dlsym, which may not be usable yet when the
// first mmap arrives). Each returns what the libc function would, errno set.
#pragma once

#include <cerrno>
#include <cstddef>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace nifshim::raw {

inline void* mmap(void* addr, std::size_t len, int prot, int flags, int fd, off_t off) {
  long r = ::syscall(SYS_mmap, addr, len, prot, flags, fd, off);
  return r == -1 ? MAP_FAILED : reinterpret_cast<void*>(r);
}

inline int munmap(void* addr, std::size_t len) {
  return static_cast<int>(::syscall(SYS_munmap, addr, len));
}

inline void* mremap(void* old, std::size_t old_len, std::size_t new_len, int flags, void* new_addr) {
  long r = ::syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
  return r == -1 ? MAP_FAILED : reinterpret_cast<void*>(r);
}

inline int madvise(void* addr, std::size_t len, int advice) {
  return static_cast<int>(::syscall(SYS_madvise, addr, len, advice));
}

inline int mprotect(void* addr, std::size_t len, int prot) {
  return static_cast<int>(::syscall(SYS_mprotect, addr, len, prot));
}

}  // namespace nifshim::raw
