// Reading a shared library's dynamic symbol table from the file, without
// mapping the library into the process (no dlopen): the shim uses it to tell
// a NIF library (one that defines `nif_init`) from any other library.
//
// This file owns only that question. Nothing is cached and nothing is
// allocated: the file is opened, read with pread through small stack
// buffers, and closed within the call.
#pragma once

namespace nifshim {

enum class ElfCheck {
  kHasSymbol,   // one of the names is a defined, exported dynamic symbol
  kNoSymbol,    // a valid x86-64 shared object that defines none of them
  kNotElf,      // not ELF, not 64-bit little-endian x86-64 ET_DYN, or corrupt/truncated
  kUnreadable,  // cannot be opened or read, or not a regular file
};

// Reports whether any of `names` (a nullptr-terminated array) is a defined
// dynamic symbol (st_shndx != SHN_UNDEF) of type FUNC, OBJECT or GNU_IFUNC
// and binding GLOBAL or WEAK in the shared object at `path`.
//
// The table is .dynsym found through the section headers; when there are no
// usable section headers (absent, or outside the file), it is found the way
// the dynamic loader finds it: PT_DYNAMIC's DT_SYMTAB and DT_STRTAB, with the
// symbol count from DT_HASH or DT_GNU_HASH. Every offset and size read from
// the file is checked against the file's size: a corrupt or truncated file
// gives kNotElf, never an out-of-bounds read.
//
// Unless the result is kHasSymbol, `*why` (if `why` is not nullptr) gets a
// short static reason; otherwise it is set to nullptr.
ElfCheck elf_exports_symbol(const char* path, const char* const* names, const char** why);

}  // namespace nifshim
