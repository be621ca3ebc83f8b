// Process-level interpositions in beam.smp: its command line and fork().
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "export.h"
#include "log.h"
#include "shim_state.h"

using nifshim::g_shim;

extern "C" char** environ;

namespace {

using MainFn = int (*)(int, char**, char**);
using StartMainFn = int (*)(MainFn, int, char**, void (*)(), void (*)(), void (*)(), void*);

// Emulator flags the shim needs. "-Musac false": no sys_alloc carriers, so
// every ERTS allocator takes its carriers from mmap (the window) instead of
// glibc malloc, whose own mmap calls cannot be interposed.
const char* const kVmFlags[] = {"-Musac", "false"};
constexpr int kNumVmFlags = 2;

// beam.smp's argv is "beam.smp [emulator flags] -- [init flags]". The flags go
// last among the emulator flags (before the first "--"), so they win. glibc
// finds the environment right after argv's terminating NULL, so it is copied
// along.
char** argv_with_vm_flags(int argc, char** argv, int* new_argc) {
  int at = 1;
  while (at < argc && std::strcmp(argv[at], "--") != 0) ++at;
  int envc = 0;
  while (environ && environ[envc]) ++envc;
  auto** out = static_cast<char**>(std::calloc(argc + kNumVmFlags + 1 + envc + 1, sizeof(char*)));
  if (out == nullptr) return nullptr;
  int n = 0;
  for (int i = 0; i < at; ++i) out[n++] = argv[i];
  for (const char* f : kVmFlags) out[n++] = const_cast<char*>(f);
  for (int i = at; i < argc; ++i) out[n++] = argv[i];
  *new_argc = n;
  out[n++] = nullptr;
  for (int i = 0; i < envc; ++i) out[n++] = environ[i];
  out[n] = nullptr;
  return out;
}

// Wait until the child has exec'd or exited: the write end of `fd`'s pipe is
// close-on-exec and held only by the child, so EOF means exactly that.
void wait_for_exec(int fd, pid_t child) {
  pollfd p{fd, POLLIN, 0};
  bool told = false;
  for (;;) {
    int r = poll(&p, 1, 5000);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      if (!told)
        nifshim::log_error("fork: child %d has neither exec'd nor exited after 5 s; waiting, since "
                           "it shares the window with the VM until it does", child);
      told = true;
      continue;
    }
    char c;
    ssize_t n = read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    return;  // EOF (or an error we cannot wait through)
  }
}

}  // namespace

// Program start: beam.smp gets the emulator flags the window needs, so users
// pass none.
extern "C" NIFSHIM_EXPORT int __libc_start_main(MainFn main, int argc, char** argv,
                                                void (*init)(), void (*fini)(),
                                                void (*rtld_fini)(), void* stack_end) {
  auto real = reinterpret_cast<StartMainFn>(dlvsym(RTLD_NEXT, "__libc_start_main", "GLIBC_2.34"));
  if (real == nullptr) real = reinterpret_cast<StartMainFn>(dlsym(RTLD_NEXT, "__libc_start_main"));
  if (real == nullptr) {
    nifshim::log_error("cannot find the real __libc_start_main: %s", dlerror());
    std::abort();
  }
  if (g_shim.active_mapper() != nullptr) {
    int new_argc = 0;
    if (char** new_argv = argv_with_vm_flags(argc, argv, &new_argc)) {
      argc = new_argc;
      argv = new_argv;
    } else {
      nifshim::log_error("cannot add -Musac false to the VM's flags (out of memory)");
    }
  }
  return real(main, argc, argv, init, fini, rtld_fini, stack_end);
}

// fork() in beam.smp: the window is MAP_SHARED, so unlike private memory it
// is not copied into the child; until the child execs, the parent's writes
// (freeing the child's argv, say) show through in the child. The forking
// thread therefore waits until the child has exec'd or exited. The child
// itself no longer uses the window for new mappings.
extern "C" NIFSHIM_EXPORT pid_t fork() noexcept {
  static auto real = reinterpret_cast<pid_t (*)()>(dlsym(RTLD_NEXT, "fork"));
  if (g_shim.active_mapper() == nullptr) return real();
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    int e = errno;
    nifshim::log_error("fork: cannot create the exec-wait pipe: %s", std::strerror(e));
    errno = e;
    return -1;
  }
  // Out of the way of code that dup2()s onto low descriptors before exec.
  int high = fcntl(p[1], F_DUPFD_CLOEXEC, 512);
  if (high >= 0) { close(p[1]); p[1] = high; }
  pid_t pid = real();
  if (pid == 0) {
    g_shim.mapper.store(nullptr, std::memory_order_release);
    close(p[0]);
    return 0;
  }
  int e = errno;
  close(p[1]);
  if (pid > 0) wait_for_exec(p[0], pid);
  close(p[0]);
  errno = e;
  return pid;
}

// chdir/fchdir (file:set_cwd/1): workers follow the VM's current directory,
// so a NIF opening a relative path sees what it would see natively.
namespace {
void note_cwd_change() {
  if (g_shim.vm_state != nullptr)
    g_shim.vm_state->cwd_generation.fetch_add(1, std::memory_order_release);
}
}  // namespace

namespace nifshim {
// Hidden: what rebuilt mode points beam.smp's GOT at (rebuilt_chdir.cc); a
// reference to the exported names from inside the shim could bind to libc's.
int vm_chdir(const char* path) {
  static auto real = reinterpret_cast<int (*)(const char*)>(dlsym(RTLD_NEXT, "chdir"));
  int r = real ? real(path) : static_cast<int>(syscall(SYS_chdir, path));
  if (r == 0) note_cwd_change();
  return r;
}

int vm_fchdir(int fd) {
  static auto real = reinterpret_cast<int (*)(int)>(dlsym(RTLD_NEXT, "fchdir"));
  int r = real ? real(fd) : static_cast<int>(syscall(SYS_fchdir, fd));
  if (r == 0) note_cwd_change();
  return r;
}
}  // namespace nifshim

extern "C" NIFSHIM_EXPORT int chdir(const char* path) noexcept { return nifshim::vm_chdir(path); }

extern "C" NIFSHIM_EXPORT int fchdir(int fd) noexcept { return nifshim::vm_fchdir(fd); }
