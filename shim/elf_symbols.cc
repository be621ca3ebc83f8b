// Dynamic-symbol lookup in a shared library file (see elf_symbols.h).
//
// This file owns the ELF parsing only: it opens the file read-only, reads it
// with pread through two small stack caches (one for the symbol table and
// headers, one for the string table), and closes it. No heap, no mmap, no
// global state; safe to call inside beam.smp. Every offset taken from the
// file is bounds-checked against the size fstat reported, and every read is
// a copy into a local, so corrupt input can give a wrong answer at worst.
#include "elf_symbols.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace nifshim {
namespace {

// The file, read through a one-block cache: walking a table sequentially
// costs one pread per block.
class Reader {
 public:
  Reader(int fd, std::uint64_t size) : fd_(fd), size_(size) {}

  std::uint64_t size() const { return size_; }
  bool io_error() const { return io_error_; }
  bool in_file(std::uint64_t off, std::uint64_t len) const {
    return off <= size_ && len <= size_ - off;
  }

  // Copies [off, off + n) of the file to `out`; false if that is not inside
  // the file, or on a read error (then io_error() is true).
  bool read(std::uint64_t off, void* out, std::size_t n) {
    if (!in_file(off, n)) return false;
    if (n > sizeof buf_) return pread_all(off, out, n);
    bool cached = off >= start_ && off - start_ <= len_ && n <= len_ - (off - start_);
    if (!cached) {
      std::size_t want = size_ - off < sizeof buf_ ? size_ - off : sizeof buf_;
      len_ = 0;
      if (!pread_all(off, buf_, want)) return false;
      start_ = off;
      len_ = want;
    }
    std::memcpy(out, buf_ + (off - start_), n);
    return true;
  }
  template <class T>
  bool get(std::uint64_t off, T* out) {
    return read(off, out, sizeof(T));
  }

 private:
  bool pread_all(std::uint64_t off, void* out, std::size_t n) {
    auto* p = static_cast<unsigned char*>(out);
    while (n > 0) {
      ssize_t r = pread(fd_, p, n, static_cast<off_t>(off));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return io_error_ = true, false;  // an error, or the file shrank under us
      p += r;
      off += static_cast<std::uint64_t>(r);
      n -= static_cast<std::size_t>(r);
    }
    return true;
  }

  int fd_;
  std::uint64_t size_, start_ = 0;
  std::size_t len_ = 0;
  bool io_error_ = false;
  unsigned char buf_[2048];
};

struct DynSyms {
  std::uint64_t sym_off = 0, count = 0;  // Elf64_Sym entries
  std::uint64_t str_off = 0, str_size = 0;
};

bool table_in_file(const Reader& r, const DynSyms& t) {
  return t.count <= r.size() / sizeof(Elf64_Sym) &&
         r.in_file(t.sym_off, t.count * sizeof(Elf64_Sym)) && r.in_file(t.str_off, t.str_size);
}

// .dynsym and its linked string table, through the section headers.
bool from_sections(Reader& r, const Elf64_Ehdr& eh, DynSyms* out) {
  if (eh.e_shoff == 0 || eh.e_shentsize != sizeof(Elf64_Shdr)) return false;
  Elf64_Shdr sh;
  std::uint64_t shnum = eh.e_shnum;
  if (shnum == 0) {  // extended numbering: the count is section 0's sh_size
    if (!r.get(eh.e_shoff, &sh)) return false;
    shnum = sh.sh_size;
  }
  if (shnum == 0 || shnum > r.size() / sizeof(Elf64_Shdr) ||
      !r.in_file(eh.e_shoff, shnum * sizeof(Elf64_Shdr)))
    return false;
  for (std::uint64_t i = 0; i < shnum; ++i) {
    if (!r.get(eh.e_shoff + i * sizeof sh, &sh)) return false;
    if (sh.sh_type != SHT_DYNSYM) continue;
    Elf64_Shdr str;
    if (sh.sh_entsize != sizeof(Elf64_Sym) || sh.sh_link >= shnum ||
        !r.get(eh.e_shoff + std::uint64_t{sh.sh_link} * sizeof str, &str) ||
        str.sh_type != SHT_STRTAB)
      return false;
    *out = {sh.sh_offset, sh.sh_size / sizeof(Elf64_Sym), str.sh_offset, str.sh_size};
    return table_in_file(r, *out);
  }
  return false;
}

// The file offset of virtual address `vaddr`, through the PT_LOAD segments.
bool vaddr_to_off(Reader& r, const Elf64_Ehdr& eh, std::uint64_t vaddr, std::uint64_t* off) {
  for (std::uint64_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    if (!r.get(eh.e_phoff + i * sizeof ph, &ph)) return false;
    if (ph.p_type != PT_LOAD || vaddr < ph.p_vaddr || vaddr - ph.p_vaddr >= ph.p_filesz) continue;
    std::uint64_t delta = vaddr - ph.p_vaddr;
    if (ph.p_offset > UINT64_MAX - delta) return false;
    *off = ph.p_offset + delta;
    return true;
  }
  return false;
}

// Number of symbols covered by a GNU hash table: one past the highest index
// any bucket's chain reaches (or symoffset when every bucket is empty).
bool gnu_hash_count(Reader& r, std::uint64_t off, std::uint64_t* count) {
  std::uint32_t h[4];  // nbuckets, symoffset, bloom_size (in 64-bit words), bloom_shift
  if (!r.get(off, &h)) return false;
  std::uint64_t buckets = off + 16 + std::uint64_t{h[2]} * 8;
  std::uint64_t chains = buckets + std::uint64_t{h[0]} * 4;
  std::uint32_t last = 0;
  for (std::uint64_t i = 0; i < h[0]; ++i) {
    std::uint32_t b;
    if (!r.get(buckets + i * 4, &b)) return false;
    if (b > last) last = b;
  }
  if (last < h[1]) return *count = h[1], true;
  for (std::uint64_t i = last;; ++i) {  // ends at the chain's last entry, or the file's end
    std::uint32_t c;
    if (!r.get(chains + (i - h[1]) * 4, &c)) return false;
    if (c & 1) return *count = i + 1, true;
  }
}

// The table the dynamic loader would use: PT_DYNAMIC's entries.
bool from_dynamic(Reader& r, const Elf64_Ehdr& eh, DynSyms* out, const char** why) {
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
      !r.in_file(eh.e_phoff, std::uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr)))
    return *why = "bad program header table", false;
  Elf64_Phdr dyn{};
  for (std::uint64_t i = 0; i < eh.e_phnum && dyn.p_type != PT_DYNAMIC; ++i)
    if (!r.get(eh.e_phoff + i * sizeof dyn, &dyn)) return *why = "bad program header", false;
  if (dyn.p_type != PT_DYNAMIC) return *why = "no dynamic symbol table", false;
  std::uint64_t symtab = 0, strtab = 0, strsz = 0, syment = 0, hash = 0, gnu_hash = 0;
  for (std::uint64_t i = 0; i < dyn.p_filesz / sizeof(Elf64_Dyn); ++i) {
    Elf64_Dyn d;
    if (!r.get(dyn.p_offset + i * sizeof d, &d)) return *why = "truncated PT_DYNAMIC", false;
    if (d.d_tag == DT_NULL) break;
    switch (d.d_tag) {
      case DT_SYMTAB: symtab = d.d_un.d_ptr; break;
      case DT_STRTAB: strtab = d.d_un.d_ptr; break;
      case DT_STRSZ: strsz = d.d_un.d_val; break;
      case DT_SYMENT: syment = d.d_un.d_val; break;
      case DT_HASH: hash = d.d_un.d_ptr; break;
      case DT_GNU_HASH: gnu_hash = d.d_un.d_ptr; break;
      default: break;
    }
  }
  if (symtab == 0 || strtab == 0) return *why = "no DT_SYMTAB or DT_STRTAB", false;
  if (syment != 0 && syment != sizeof(Elf64_Sym)) return *why = "bad DT_SYMENT", false;
  if (!vaddr_to_off(r, eh, symtab, &out->sym_off) || !vaddr_to_off(r, eh, strtab, &out->str_off))
    return *why = "DT_SYMTAB/DT_STRTAB outside the file", false;
  out->str_size = strsz;
  std::uint64_t off = 0;
  if (hash != 0) {  // nbucket, nchain: nchain is the symbol count
    std::uint32_t h[2];
    if (!vaddr_to_off(r, eh, hash, &off) || !r.get(off, &h)) return *why = "bad DT_HASH", false;
    out->count = h[1];
  } else if (gnu_hash != 0) {
    if (!vaddr_to_off(r, eh, gnu_hash, &off) || !gnu_hash_count(r, off, &out->count))
      return *why = "bad DT_GNU_HASH", false;
  } else {
    return *why = "no DT_HASH or DT_GNU_HASH", false;
  }
  if (!table_in_file(r, *out)) return *why = "dynamic symbol table outside the file", false;
  return true;
}

// Whether the NUL-terminated string at `off` equals `name` (the caller has
// checked that strlen(name) + 1 bytes from `off` are in the string table).
bool name_at(Reader& r, std::uint64_t off, const char* name, std::size_t n) {
  char buf[64];
  while (n > 0) {
    std::size_t k = n < sizeof buf ? n : sizeof buf;
    if (!r.read(off, buf, k) || std::memcmp(buf, name, k) != 0) return false;
    off += k, name += k, n -= k;
  }
  return true;
}

ElfCheck check(int fd, std::uint64_t size, const char* const* names, const char** why) {
  Reader meta(fd, size), strs(fd, size);
  auto fail = [&](const char* reason) {
    bool io = meta.io_error() || strs.io_error();
    *why = io ? "read error" : reason;
    return io ? ElfCheck::kUnreadable : ElfCheck::kNotElf;
  };
  Elf64_Ehdr eh;
  if (!meta.get(0, &eh)) return fail("too short for an ELF header");
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) return fail("no ELF magic");
  if (eh.e_ident[EI_CLASS] != ELFCLASS64) return fail("not a 64-bit ELF");
  if (eh.e_ident[EI_DATA] != ELFDATA2LSB) return fail("not a little-endian ELF");
  if (eh.e_machine != EM_X86_64) return fail("not an x86-64 ELF");
  if (eh.e_type != ET_DYN) return fail("not a shared object (ET_DYN)");
  DynSyms t;
  if (!from_sections(meta, eh, &t)) {
    if (meta.io_error()) return fail("");
    const char* reason = nullptr;
    if (!from_dynamic(meta, eh, &t, &reason)) return fail(reason);
  }
  for (std::uint64_t i = 1; i < t.count; ++i) {  // entry 0 is the null symbol
    Elf64_Sym s;
    if (!meta.get(t.sym_off + i * sizeof s, &s)) return fail("truncated symbol table");
    unsigned type = ELF64_ST_TYPE(s.st_info), bind = ELF64_ST_BIND(s.st_info);
    if (s.st_shndx == SHN_UNDEF || s.st_name >= t.str_size) continue;
    if (type != STT_FUNC && type != STT_OBJECT && type != STT_GNU_IFUNC) continue;
    if (bind != STB_GLOBAL && bind != STB_WEAK) continue;
    for (const char* const* n = names; *n != nullptr; ++n) {
      std::size_t len = std::strlen(*n) + 1;
      if (len <= t.str_size - s.st_name && name_at(strs, t.str_off + s.st_name, *n, len))
        return ElfCheck::kHasSymbol;
    }
    if (strs.io_error()) return fail("");
  }
  *why = "symbol not defined";
  return ElfCheck::kNoSymbol;
}

}  // namespace

ElfCheck elf_exports_symbol(const char* path, const char* const* names, const char** why) {
  const char* ignored = nullptr;
  if (why == nullptr) why = &ignored;
  *why = nullptr;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return *why = "cannot open", ElfCheck::kUnreadable;
  struct stat st;
  ElfCheck result;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    *why = "not a regular file";
    result = ElfCheck::kUnreadable;
  } else if (names == nullptr) {
    *why = "no names given";
    result = ElfCheck::kNoSymbol;
  } else {
    result = check(fd, static_cast<std::uint64_t>(st.st_size), names, why);
  }
  close(fd);
  return result;
}

}  // namespace nifshim
