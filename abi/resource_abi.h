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

// Copy mode (a rebuilt library in a VM without the preload, whose memory the
// worker cannot see): the NIF's object lives in the worker's arena, after a
// CopyHeader naming the VM's object; the VM's object is the ResourceHeader
// followed by a CopyHeader naming the worker's. With the preload, the NIF's
// object simply follows the ResourceHeader in the VM's object.
struct CopyHeader {
  std::uint64_t peer;  // the other side's object
  std::uint64_t size;  // what the NIF asked for
};

static_assert(sizeof(CopyHeader) == 16, "keeps the object 16-byte aligned");

// The VM's object for the NIF's `obj`.
inline void* vm_object(void* obj, bool copy_mode) {
  char* p = static_cast<char*>(obj) - kResourceHeaderSize;
  return copy_mode ? reinterpret_cast<void*>(reinterpret_cast<CopyHeader*>(p)->peer) : p;
}

// The NIF's object for the VM's `raw`.
inline void* worker_object(void* raw, bool copy_mode) {
  char* p = static_cast<char*>(raw) + kResourceHeaderSize;
  return copy_mode ? reinterpret_cast<void*>(reinterpret_cast<CopyHeader*>(p)->peer) : p;
}

}  // namespace nifshim::abi
