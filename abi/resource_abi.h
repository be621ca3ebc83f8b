// Resource objects of isolated libraries carry a hidden header: the VM
// allocates 16 bytes more and the worker sees the object after them. The
// header says which library and which of its workers (generation) made the
// object, so that after a restart a dead worker's objects never reach the new
// worker's code: their destructor is skipped and enif_get_resource refuses
// them as it refuses a wrong type.
#pragma once

#include <cstdint>

namespace nifshim::abi {

inline constexpr std::uint32_t kResourceMagic = 0x6e696652;  // "Rfin"

struct ResourceHeader {
  std::uint32_t magic;
  std::uint32_t generation;  // the library's worker generation that allocated it
  std::uint64_t library;     // the VM's NifLibrary (an identity, never dereferenced by workers)
};

static_assert(sizeof(ResourceHeader) == 16, "keeps the object 16-byte aligned");

inline constexpr std::uint64_t kResourceHeaderSize = sizeof(ResourceHeader);

}  // namespace nifshim::abi
