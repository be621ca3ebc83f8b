// Unit tests of the ELF dynamic-symbol reader, on real libraries of the
// machine (OTP's crypto NIF, libc, ld.so) and on damaged copies of them.
#include <doctest/doctest.h>

#include <elf.h>
#include <glob.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "elf_symbols.h"

using nifshim::elf_exports_symbol;
using nifshim::ElfCheck;

namespace {
const char* const kNifInit[] = {"nif_init", "_nif_init", nullptr};
const char* const kLibc = "/lib/x86_64-linux-gnu/libc.so.6";
const char* const kLdSo = "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2";

// OTP's crypto NIF (erlang-crypto is a dependency of the project); "" if absent.
std::string crypto_so() {
  glob_t g;
  std::string path;
  if (glob("/usr/lib/erlang/lib/crypto-*/priv/lib/crypto.so", 0, nullptr, &g) == 0 &&
      g.gl_pathc > 0)
    path = g.gl_pathv[0];
  globfree(&g);
  return path;
}

std::string require_crypto_so() {
  std::string path = crypto_so();
  INFO("crypto.so not found under /usr/lib/erlang/lib/crypto-*/priv/lib/: install erlang-crypto");
  REQUIRE(!path.empty());
  return path;
}

std::vector<unsigned char> read_all(const std::string& path) {
  std::vector<unsigned char> data;
  FILE* f = std::fopen(path.c_str(), "rb");
  REQUIRE(f != nullptr);
  unsigned char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) data.insert(data.end(), buf, buf + n);
  std::fclose(f);
  return data;
}

// A temporary file holding `data`, removed when it goes out of scope.
struct TempFile {
  std::string path;
  explicit TempFile(const std::vector<unsigned char>& data) {
    char name[] = "/tmp/nifshim-elf-test-XXXXXX";
    int fd = mkstemp(name);
    REQUIRE(fd >= 0);
    path = name;
    std::size_t done = 0;
    while (done < data.size()) {
      ssize_t w = write(fd, data.data() + done, data.size() - done);
      REQUIRE(w > 0);
      done += static_cast<std::size_t>(w);
    }
    close(fd);
  }
  ~TempFile() { unlink(path.c_str()); }
};

Elf64_Ehdr header_of(const std::vector<unsigned char>& data) {
  Elf64_Ehdr eh;
  REQUIRE(data.size() >= sizeof eh);
  std::memcpy(&eh, data.data(), sizeof eh);
  return eh;
}

void set_header(std::vector<unsigned char>* data, const Elf64_Ehdr& eh) {
  std::memcpy(data->data(), &eh, sizeof eh);
}

ElfCheck check(const std::string& path, const char* const* names, const char** why = nullptr) {
  return elf_exports_symbol(path.c_str(), names, why);
}
}  // namespace

TEST_CASE("elf: a real NIF library exports nif_init") {
  std::string so = require_crypto_so();
  const char* why = "unset";
  CHECK(check(so, kNifInit, &why) == ElfCheck::kHasSymbol);
  CHECK(why == nullptr);
  const char* const only_underscore[] = {"_nif_init", "nif_init", nullptr};
  CHECK(check(so, only_underscore) == ElfCheck::kHasSymbol);
  CHECK(elf_exports_symbol(so.c_str(), kNifInit, nullptr) == ElfCheck::kHasSymbol);
}

TEST_CASE("elf: a symbol the library only references is not exported") {
  std::string so = require_crypto_so();
  const char* const atom[] = {"enif_make_atom", nullptr};
  const char* why = nullptr;
  CHECK(check(so, atom, &why) == ElfCheck::kNoSymbol);
  CHECK(why != nullptr);
  const char* const prefix[] = {"nif_ini", "nif_init_", nullptr};  // no prefix matches
  CHECK(check(so, prefix) == ElfCheck::kNoSymbol);
  const char* const none[] = {nullptr};
  CHECK(check(so, none) == ElfCheck::kNoSymbol);
}

TEST_CASE("elf: libc has no nif_init but exports malloc") {
  CHECK(check(kLibc, kNifInit) == ElfCheck::kNoSymbol);
  const char* const malloc_name[] = {"malloc", nullptr};
  CHECK(check(kLibc, malloc_name) == ElfCheck::kHasSymbol);
  const char* const argv_ref[] = {"_dl_argv", nullptr};  // an UND OBJECT in libc
  CHECK(check(kLibc, argv_ref) == ElfCheck::kNoSymbol);
}

TEST_CASE("elf: a text file is not ELF, a missing file is unreadable") {
  const char* text = "not an ELF file, just some text that is long enough for a header\n";
  TempFile t(std::vector<unsigned char>(text, text + std::strlen(text)));
  const char* why = nullptr;
  CHECK(check(t.path, kNifInit, &why) == ElfCheck::kNotElf);
  CHECK(why != nullptr);
  TempFile empty(std::vector<unsigned char>{});
  CHECK(check(empty.path, kNifInit) == ElfCheck::kNotElf);

  why = nullptr;
  CHECK(check("/nonexistent/nifshim/lib.so", kNifInit, &why) == ElfCheck::kUnreadable);
  CHECK(why != nullptr);
  CHECK(check("/tmp", kNifInit) == ElfCheck::kUnreadable);  // a directory
}

TEST_CASE("elf: 32-bit, big-endian, other-machine and non-ET_DYN files are rejected") {
  std::vector<unsigned char> data = read_all(require_crypto_so());
  struct Case {
    const char* what;
    void (*patch)(Elf64_Ehdr*);
  } cases[] = {
      {"ELFCLASS32", [](Elf64_Ehdr* eh) { eh->e_ident[EI_CLASS] = ELFCLASS32; }},
      {"big-endian", [](Elf64_Ehdr* eh) { eh->e_ident[EI_DATA] = ELFDATA2MSB; }},
      {"aarch64", [](Elf64_Ehdr* eh) { eh->e_machine = EM_AARCH64; }},
      {"ET_EXEC", [](Elf64_Ehdr* eh) { eh->e_type = ET_EXEC; }},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    std::vector<unsigned char> copy = data;
    Elf64_Ehdr eh = header_of(copy);
    c.patch(&eh);
    set_header(&copy, eh);
    TempFile t(copy);
    const char* why = nullptr;
    CHECK(check(t.path, kNifInit, &why) == ElfCheck::kNotElf);
    CHECK(why != nullptr);
  }
}

TEST_CASE("elf: truncated copies of a real library do not crash") {
  std::vector<unsigned char> data = read_all(require_crypto_so());
  for (std::size_t len : {std::size_t{0}, std::size_t{4}, std::size_t{63}, std::size_t{64},
                          std::size_t{200}, std::size_t{5000}, data.size() / 2,
                          data.size() - 1}) {
    INFO("first " << len << " bytes");
    TempFile t(std::vector<unsigned char>(data.begin(), data.begin() + static_cast<long>(len)));
    ElfCheck r = check(t.path, kNifInit);
    CHECK((r == ElfCheck::kNotElf || r == ElfCheck::kNoSymbol || r == ElfCheck::kHasSymbol));
    if (len <= 5000) CHECK(r == ElfCheck::kNotElf);  // the symbol table is beyond
  }
}

TEST_CASE("elf: corrupted section header offsets fall back to PT_DYNAMIC") {
  std::vector<unsigned char> data = read_all(require_crypto_so());
  for (std::uint64_t shoff : {~std::uint64_t{0}, ~std::uint64_t{0} - 63,
                              std::uint64_t{1} << 62, std::uint64_t{data.size()} - 8}) {
    INFO("e_shoff = " << shoff);
    std::vector<unsigned char> copy = data;
    Elf64_Ehdr eh = header_of(copy);
    eh.e_shoff = shoff;
    set_header(&copy, eh);
    TempFile t(copy);
    CHECK(check(t.path, kNifInit) == ElfCheck::kHasSymbol);
  }
  // A huge section count with a valid offset, and garbage in the program headers.
  std::vector<unsigned char> copy = data;
  Elf64_Ehdr eh = header_of(copy);
  eh.e_shnum = 0xffff;
  eh.e_phoff = ~std::uint64_t{0} - 10;
  set_header(&copy, eh);
  TempFile t(copy);
  ElfCheck r = check(t.path, kNifInit);
  CHECK((r == ElfCheck::kNotElf || r == ElfCheck::kHasSymbol));
}

TEST_CASE("elf: without section headers nif_init is found through PT_DYNAMIC") {
  // crypto.so has DT_GNU_HASH only; ld.so has DT_HASH too (used in preference).
  struct Lib {
    std::string path;
    const char* symbol;
  } libs[] = {{require_crypto_so(), "nif_init"}, {kLdSo, "__tls_get_addr"}};
  for (const Lib& lib : libs) {
    INFO(lib.path);
    std::vector<unsigned char> copy = read_all(lib.path);
    Elf64_Ehdr eh = header_of(copy);
    eh.e_shoff = 0;
    eh.e_shnum = 0;
    eh.e_shstrndx = 0;
    set_header(&copy, eh);
    TempFile t(copy);
    const char* const wanted[] = {lib.symbol, nullptr};
    CHECK(check(t.path, wanted) == ElfCheck::kHasSymbol);
    const char* const undefined[] = {"nifshim_no_such_symbol", nullptr};
    CHECK(check(t.path, undefined) == ElfCheck::kNoSymbol);
  }
}

TEST_CASE("elf: random corruption of a stripped library never crashes") {
  std::vector<unsigned char> data = read_all(require_crypto_so());
  Elf64_Ehdr eh = header_of(data);
  eh.e_shoff = 0;
  eh.e_shnum = 0;
  set_header(&data, eh);
  std::srand(12345);
  // Damage the headers and the dynamic section area (the first 16 KiB).
  std::size_t area = data.size() < 16384 ? data.size() : 16384;
  for (int round = 0; round < 200; ++round) {
    std::vector<unsigned char> copy = data;
    for (int k = 0; k < 8; ++k)
      copy[static_cast<std::size_t>(std::rand()) % area] = static_cast<unsigned char>(std::rand());
    TempFile t(copy);
    ElfCheck r = check(t.path, kNifInit);
    CHECK(r != ElfCheck::kUnreadable);
  }
}
