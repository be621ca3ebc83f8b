// The shim's constructor: decides whether this process is beam.smp and, if
// so, creates the window before beam.smp's own code runs. See shim_state.h.
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <mutex>
#include <link.h>
#include <new>
#include <sys/mman.h>
#include <unistd.h>

#include "export.h"
#include "log.h"
#include "shim_state.h"
#include "window_abi.h"

namespace nifshim {

ShimState g_shim;

namespace {

alignas(WindowMapper) unsigned char g_mapper_storage[sizeof(WindowMapper)];
Window g_window;

bool exe_is_beam() {
  char path[4096];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return false;
  path[n] = '\0';
  const char* base = std::strrchr(path, '/');
  base = base ? base + 1 : path;
  // beam.smp, and the debug/asan/valgrind flavours: beam.debug.smp, ...
  return std::strncmp(base, "beam", 4) == 0;
}

// The main program is the first object dl_iterate_phdr reports.
int find_main_code(dl_phdr_info* info, size_t, void* out) {
  auto* st = static_cast<ShimState*>(out);
  std::uintptr_t lo = ~std::uintptr_t{0}, hi = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
    std::uintptr_t a = info->dlpi_addr + ph.p_vaddr;
    if (a < lo) lo = a;
    if (a + ph.p_memsz > hi) hi = a + ph.p_memsz;
  }
  if (hi > lo) { st->beam_code_lo = lo; st->beam_code_hi = hi; }
  return 1;  // stop after the first object
}

bool env_set(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

// Was this library preloaded? Preloaded objects come before libc in the
// link map list; a library loaded as a NIF's dependency comes after it.
int find_order(dl_phdr_info* info, size_t, void* out) {
  auto* st = static_cast<int*>(out);  // [0]: our index, [1]: libc's, [2]: counter
  Dl_info self{};
  if (dladdr(reinterpret_cast<void*>(&find_order), &self) != 0 &&
      info->dlpi_addr == reinterpret_cast<std::uintptr_t>(self.dli_fbase))
    st[0] = st[2];
  const char* n = info->dlpi_name ? std::strrchr(info->dlpi_name, '/') : nullptr;
  if (n && std::strncmp(n, "/libc.so", 8) == 0 && st[1] < 0) st[1] = st[2];
  ++st[2];
  return 0;
}

bool loaded_by_preload() {
  int st[3] = {-1, -1, 0};
  dl_iterate_phdr(find_order, st);
  return st[0] >= 0 && st[1] >= 0 && st[0] < st[1];
}

// NIFSHIM_KEEP: how many bytes of the VM's freed window memory keep their
// pages for reuse (0: none).
std::size_t keep_bytes_from_env() {
  const char* s = std::getenv(abi::kEnvKeep);
  if (s == nullptr || *s == '\0') return abi::kKeepDefault;
  if (std::strcmp(s, "0") == 0) return 0;
  std::size_t n = parse_size(s);
  if (n == 0) {
    log_error("%s=%s is not a size (use bytes or K/M/G); using %zu", abi::kEnvKeep, s,
              abi::kKeepDefault);
    return abi::kKeepDefault;
  }
  return n;
}

// NIFSHIM_KEEP_MS: how long kept pages may stay before they are punched.
unsigned keep_ms_from_env() {
  const char* s = std::getenv(abi::kEnvKeepMs);
  if (s == nullptr || *s == '\0') return abi::kKeepMsDefault;
  char* end = nullptr;
  unsigned long v = std::strtoul(s, &end, 10);
  if (*end != '\0' || v == 0 || v > 3600000) {
    log_error("%s=%s is not a number of milliseconds (1..3600000); using %u", abi::kEnvKeepMs, s,
              abi::kKeepMsDefault);
    return abi::kKeepMsDefault;
  }
  return static_cast<unsigned>(v);
}

// The window and its mapper, plus the VmState page the workers read.
bool create_window() {
  std::size_t size = abi::kWindowDefaultSize;
  if (const char* s = std::getenv(abi::kEnvWindowSize); s && *s) {
    size = parse_size(s);
    if (size == 0) {
      log_error("%s=%s is not a size (use bytes or K/M/G/T); using %zu", abi::kEnvWindowSize, s,
                abi::kWindowDefaultSize);
      size = abi::kWindowDefaultSize;
    } else if (size < abi::kWindowMinSize) {
      log_error("%s=%s is below the minimum of %zu bytes (ERTS alone reserves 1 GiB); using it anyway",
                abi::kEnvWindowSize, s, abi::kWindowMinSize);
    }
  }
  size = (size + abi::kCarrierAlign - 1) & ~(abi::kCarrierAlign - 1);
  std::uintptr_t base = abi::kWindowDefaultBase;
  if (const char* b = std::getenv(abi::kEnvWindowBase); b && *b) base = std::strtoull(b, nullptr, 0);

  const char* why = "";
  int r = window_create(size, base, abi::kCarrierAlign, &g_window, &why);
  if (r != 0) {
    log_error("cannot create the shared window (%s: %s); the VM runs without it", why,
              std::strerror(-r));
    return false;
  }
  if (g_window.base != base)
    log_error("window base %#lx is not available; using %#lx", static_cast<unsigned long>(base),
              static_cast<unsigned long>(g_window.base));
  // Freed pages are kept only for the VM's own memory (preload mode); copy
  // mode keeps its own spare ranges.
  const std::size_t keep = g_shim.preloaded ? keep_bytes_from_env() : 0;
  auto* m = new (g_mapper_storage) WindowMapper(g_window, keep);
  if (!m->ok()) {
    log_error("the VM runs without the shared window");
    return false;
  }
  void* page = m->map(4096, PROT_READ | PROT_WRITE, 0);
  if (page != MAP_FAILED) {
    g_shim.vm_state = new (page) abi::VmState{};
    g_shim.vm_state->vm_pid = getpid();
    g_shim.vm_state->copy_mode = g_shim.preloaded ? 0 : 1;
  }
  if (keep > 0) m->start_releaser(keep_ms_from_env() * 1000000ull);
  g_shim.mapper.store(m, std::memory_order_release);
  log_debug("window %#lx..%#lx (%zu bytes) memfd %d; beam.smp code %#lx..%#lx%s",
            static_cast<unsigned long>(g_window.base), static_cast<unsigned long>(g_window.end()),
            g_window.size, g_window.fd, static_cast<unsigned long>(g_shim.beam_code_lo),
            static_cast<unsigned long>(g_shim.beam_code_hi), g_shim.preloaded ? "" : " (copy mode)");
  return true;
}

__attribute__((constructor(101))) void shim_init() {
  log_init_from_env();
  if (!exe_is_beam()) return;  // inert everywhere else
  g_shim.is_beam = true;
  if (env_set(abi::kEnvDisable)) {
    log_debug("%s is set: the shim stays inert", abi::kEnvDisable);
    return;
  }
  dl_iterate_phdr(find_main_code, &g_shim);
  g_shim.preloaded = loaded_by_preload();
  // Loaded by a rebuilt NIF library: the VM is long up; the window comes
  // with the first library isolated (start_copy_mode).
  if (g_shim.preloaded) create_window();
}

}  // namespace

bool start_copy_mode() {
  static std::mutex mu;
  std::lock_guard<std::mutex> g(mu);
  if (g_shim.active_mapper() != nullptr) return g_shim.copy_mode.load();
  if (!g_shim.is_beam || g_shim.preloaded) return false;
  g_shim.copy_mode.store(true);
  if (create_window()) return true;
  g_shim.copy_mode.store(false);
  return false;
}

}  // namespace nifshim

// Introspection for tools and tests: the window of this process, if any.
// Returns 0 and fills the outputs, or -1 when the shim is inert here.
extern "C" NIFSHIM_EXPORT int nifshim_window_info(std::uintptr_t* base, std::size_t* size, int* fd) {
  nifshim::WindowMapper* m = nifshim::g_shim.active_mapper();
  if (m == nullptr) return -1;
  if (base) *base = m->window().base;
  if (size) *size = m->window().size;
  if (fd) *fd = m->window().fd;
  return 0;
}

// NIFSHIM_DEBUG: what the window's memory did over the VM's life.
__attribute__((destructor)) static void log_window_stats() {
  nifshim::WindowMapper* m = nifshim::g_shim.active_mapper();
  if (m == nullptr) return;
  nifshim::WindowMapper::Stats s = m->stats();
  nifshim::log_debug(
      "window memory: %lu maps, %lu unmaps; %lu MiB freed, %lu MiB of it reused "
      "(%lu MiB zeroed); %lu MiB punched; %lu grown in place, %lu moved (%lu MiB copied); "
      "%zu MiB kept now",
      (unsigned long)s.maps, (unsigned long)s.unmaps, (unsigned long)(s.freed_bytes >> 20),
      (unsigned long)(s.reused_bytes >> 20), (unsigned long)(s.zeroed_pages >> 8),
      (unsigned long)(s.punched_bytes >> 20), (unsigned long)s.grown_in_place,
      (unsigned long)s.moved, (unsigned long)(s.moved_bytes >> 20), m->kept_bytes() >> 20);
}
