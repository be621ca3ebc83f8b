// Rebuilt mode: beam.smp's own chdir/fchdir calls (file:set_cwd/1) reach
// the shim's (interpose_process.cc), so workers follow the VM's directory as
// in preload mode. Without the preload nothing interposes them: beam.smp's
// GOT slots for the two are pointed at the shim's functions instead, which
// call libc's.
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "log.h"

namespace nifshim {

int vm_chdir(const char* path);  // interpose_process.cc
int vm_fchdir(int fd);

namespace {

struct Got {
  int patched = 0;
  std::uintptr_t relro_lo = 0, relro_hi = 0;  // PT_GNU_RELRO: read-only after relocation
};

// ld.so has made some .dynamic pointers absolute, not others (glibc: the
// symbol, string and relocation tables are adjusted in place).
std::uintptr_t dyn_ptr(const ElfW(Dyn)* d, std::uintptr_t bias) {
  return d->d_un.d_ptr >= bias ? d->d_un.d_ptr : d->d_un.d_ptr + bias;
}

bool write_slot(std::uintptr_t at, void* fn, const Got* g) {
  if (at < g->relro_lo || at >= g->relro_hi) {  // lazy binding: a writable .got.plt
    __atomic_store_n(reinterpret_cast<void**>(at), fn, __ATOMIC_RELEASE);
    return true;
  }
  const std::uintptr_t page = std::uintptr_t(sysconf(_SC_PAGESIZE));
  const std::uintptr_t lo = at & ~(page - 1);
  const std::size_t len = at + sizeof(void*) - lo;
  // RELRO (full: the whole GOT) is read-only after relocation: opened for the write.
  if (mprotect(reinterpret_cast<void*>(lo), len, PROT_READ | PROT_WRITE) != 0) return false;
  __atomic_store_n(reinterpret_cast<void**>(at), fn, __ATOMIC_RELEASE);
  mprotect(reinterpret_cast<void*>(lo), len, PROT_READ);
  return true;
}

void patch_table(const ElfW(Rela)* rel, std::size_t n, const ElfW(Sym)* syms, const char* strs,
                 std::uintptr_t bias, Got* g) {
  for (std::size_t i = 0; i < n; ++i) {
    const auto type = ELF64_R_TYPE(rel[i].r_info);
    if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) continue;
    const char* name = strs + syms[ELF64_R_SYM(rel[i].r_info)].st_name;
    void* fn = std::strcmp(name, "chdir") == 0    ? reinterpret_cast<void*>(&vm_chdir)
               : std::strcmp(name, "fchdir") == 0 ? reinterpret_cast<void*>(&vm_fchdir)
                                                   : nullptr;
    if (fn == nullptr) continue;
    if (write_slot(bias + rel[i].r_offset, fn, g))
      ++g->patched;
    else
      log_error("rebuilt mode: cannot redirect beam.smp's %s: %s", name, std::strerror(errno));
  }
}

// The first object is the program itself (beam.smp).
int patch_program(dl_phdr_info* info, size_t, void* arg) {
  auto* g = static_cast<Got*>(arg);
  const ElfW(Dyn)* dyn = nullptr;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_DYNAMIC) dyn = reinterpret_cast<const ElfW(Dyn)*>(info->dlpi_addr + ph.p_vaddr);
    if (ph.p_type == PT_GNU_RELRO) {
      g->relro_lo = info->dlpi_addr + ph.p_vaddr;
      g->relro_hi = g->relro_lo + ph.p_memsz;
    }
  }
  if (dyn == nullptr) return 1;
  const std::uintptr_t bias = info->dlpi_addr;
  const ElfW(Sym)* syms = nullptr;
  const char* strs = nullptr;
  const ElfW(Rela)*jmprel = nullptr, *rela = nullptr;
  std::size_t jmprel_n = 0, rela_n = 0;
  for (const ElfW(Dyn)* d = dyn; d->d_tag != DT_NULL; ++d) {
    switch (d->d_tag) {
      case DT_SYMTAB: syms = reinterpret_cast<const ElfW(Sym)*>(dyn_ptr(d, bias)); break;
      case DT_STRTAB: strs = reinterpret_cast<const char*>(dyn_ptr(d, bias)); break;
      case DT_JMPREL: jmprel = reinterpret_cast<const ElfW(Rela)*>(dyn_ptr(d, bias)); break;
      case DT_PLTRELSZ: jmprel_n = d->d_un.d_val / sizeof(ElfW(Rela)); break;
      case DT_RELA: rela = reinterpret_cast<const ElfW(Rela)*>(dyn_ptr(d, bias)); break;
      case DT_RELASZ: rela_n = d->d_un.d_val / sizeof(ElfW(Rela)); break;
      default: break;
    }
  }
  if (syms == nullptr || strs == nullptr) return 1;
  if (jmprel != nullptr) patch_table(jmprel, jmprel_n, syms, strs, bias, g);
  if (rela != nullptr) patch_table(rela, rela_n, syms, strs, bias, g);
  return 1;
}

}  // namespace

void follow_vm_chdir_rebuilt() {
  static bool once = false;  // attach runs under ERTS's code-write permission, one at a time
  if (once) return;
  once = true;
  Got g;
  dl_iterate_phdr(patch_program, &g);
  if (g.patched == 0)
    log_error("rebuilt mode: beam.smp's chdir calls not found: workers stay in the directory of the load");
  else
    log_debug("rebuilt mode: %d of beam.smp's chdir/fchdir slots redirected", g.patched);
}

}  // namespace nifshim
