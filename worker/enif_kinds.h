// How each parameter kind of abi/enif_api.def travels from the worker to the
// VM: `in` turns the argument into the message slot (copying the pointee into
// memory the VM can address when it is not already in the window), `out`
// finishes after the reply (copies out-parameters back).
#pragma once

#include <cstdint>
#include <cstring>
#include <erl_nif.h>
#include <tuple>
#include <type_traits>

#include "resource_abi.h"
#include "slot_codec.h"
#include "vm_request.h"
#include "worker_state.h"

namespace nifshim::worker::kinds {

using abi::decode;
using abi::encode;

// Copies n bytes of `p` to scratch unless they are already addressable by the VM.
inline std::uint64_t carry(VmRequest& rq, const void* p, std::size_t n) {
  if (p == nullptr || in_window(p)) return encode(p);
  void* s = rq.scratch(n);
  if (s == nullptr) {
    rq.fail("argument too large for the channel and the shared arena");
    return 0;
  }
  std::memcpy(s, p, n);
  return encode(s);
}

struct V {
  template <typename T, typename Tup>
  static std::uint64_t in(VmRequest&, T v, const Tup&) { return encode(v); }
  template <typename T, typename Tup>
  static void out(VmRequest&, T, const Tup&) {}
};

struct S {  // const char*: NUL-terminated
  template <typename Tup>
  static std::uint64_t in(VmRequest& rq, const char* s, const Tup&) {
    return s ? carry(rq, s, std::strlen(s) + 1) : 0;
  }
  template <typename Tup>
  static void out(VmRequest&, const char*, const Tup&) {}
};

struct I {  // const T*: copied in
  template <typename T, typename Tup>
  static std::uint64_t in(VmRequest& rq, const T* p, const Tup&) { return carry(rq, p, sizeof(T)); }
  template <typename T, typename Tup>
  static void out(VmRequest&, const T*, const Tup&) {}
};

// Copies `n` bytes in, and back out after the reply.
inline std::uint64_t carry_both(VmRequest& rq, void* p, std::size_t n) {
  std::uint64_t v = carry(rq, p, n);
  if (p != nullptr && !in_window(p) && v != 0) rq.copy_back(p, decode<void*>(v), n);
  return v;
}

struct P {  // T*: copied in and back out
  template <typename T, typename Tup>
  static std::uint64_t in(VmRequest& rq, T* p, const Tup&) {
    return carry_both(rq, const_cast<std::remove_const_t<T>*>(p), sizeof(T));
  }
  template <typename T, typename Tup>
  static void out(VmRequest&, T*, const Tup&) {}  // done by finish_copies
};

struct W {  // the VM keeps using this pointer: it must be in the window
  template <typename T, typename Tup>
  static std::uint64_t in(VmRequest& rq, T* p, const Tup&) {
    if (p != nullptr && !in_window(p))
      rq.fail("a pointer the VM keeps (binary data, an I/O vector) is not in the shared "
              "window; allocate it with enif_alloc, enif_alloc_resource or enif_alloc_binary");
    return encode(p);
  }
  template <typename T, typename Tup>
  static void out(VmRequest&, T*, const Tup&) {}
};

struct Res {  // a resource object: the VM's starts at the hidden header
  template <typename Tup>
  static std::uint64_t in(VmRequest&, void* obj, const Tup&) {
    return obj ? encode(abi::vm_object(obj, vm_copy_mode())) : 0;
  }
  template <typename Tup>
  static void out(VmRequest&, void*, const Tup&) {}
};

template <int N>
struct InBuf {  // bytes; count in parameter N
  template <typename T, typename Tup>
  static std::uint64_t in(VmRequest& rq, const T* p, const Tup& t) {
    return carry(rq, p, std::size_t(std::get<N>(t)) * sizeof(T));
  }
  template <typename T, typename Tup>
  static void out(VmRequest&, const T*, const Tup&) {}
};

template <int N>
struct InArr : InBuf<N> {};  // terms; count in parameter N

template <int N>
struct OutBuf {  // a buffer whose capacity (bytes) is parameter N
  template <typename T, typename Tup>
  static std::uint64_t in(VmRequest& rq, T* p, const Tup& t) {
    return carry_both(rq, p, std::size_t(std::get<N>(t)));
  }
  template <typename T, typename Tup>
  static void out(VmRequest&, T*, const Tup&) {}
};

template <int N>
struct OutBufAt {  // a buffer whose capacity is *parameter N
  template <typename T, typename Tup>
  static std::uint64_t in(VmRequest& rq, T* p, const Tup& t) {
    auto* cap = std::get<N>(t);
    return carry_both(rq, p, cap ? std::size_t(*cap) : 0);
  }
  template <typename T, typename Tup>
  static void out(VmRequest&, T*, const Tup&) {}
};

// ErlNifIOVec: ERTS fills a caller-provided one in place, pointing iov and
// ref_bins at its own small_iov/small_ref_bin. A copy must carry those
// self-pointers along (relocated into the copy, and back).
inline void relocate_iovec(ErlNifIOVec* v, const void* from, void* to) {
  auto move = [&](auto*& p) {
    auto a = reinterpret_cast<std::uintptr_t>(p), f = reinterpret_cast<std::uintptr_t>(from);
    if (a >= f && a < f + sizeof(ErlNifIOVec))
      p = reinterpret_cast<std::remove_reference_t<decltype(p)>>(reinterpret_cast<std::uintptr_t>(to) + (a - f));
  };
  move(v->iov);
  move(v->ref_bins);
}

inline ErlNifIOVec* carry_iovec(VmRequest& rq, ErlNifIOVec* v) {
  if (v == nullptr || in_window(v)) return v;
  auto* s = static_cast<ErlNifIOVec*>(rq.scratch(sizeof(ErlNifIOVec)));
  if (s == nullptr) {
    rq.fail("no room for an I/O vector");
    return nullptr;
  }
  std::memcpy(s, v, sizeof *s);
  relocate_iovec(s, v, s);
  return s;
}

struct IoVec {  // ErlNifIOVec*: read (enif_ioq_enqv, enif_free_iovec)
  template <typename Tup>
  static std::uint64_t in(VmRequest& rq, ErlNifIOVec* v, const Tup&) { return encode(carry_iovec(rq, v)); }
  template <typename Tup>
  static void out(VmRequest&, ErlNifIOVec*, const Tup&) {}
};

struct IoVecOut {  // ErlNifIOVec**: *pp may be the caller's vector, filled in place
  struct State { ErlNifIOVec* orig; ErlNifIOVec* copy; ErlNifIOVec** holder; };
  template <typename Tup>
  static std::uint64_t in(VmRequest& rq, ErlNifIOVec** pp, const Tup&) {
    if (pp == nullptr) return 0;
    auto* st = static_cast<State*>(rq.scratch(sizeof(State)));
    auto** holder = static_cast<ErlNifIOVec**>(rq.scratch(sizeof(ErlNifIOVec*)));
    if (st == nullptr || holder == nullptr) {
      rq.fail("no room for an I/O vector");
      return 0;
    }
    *st = State{*pp, carry_iovec(rq, *pp), holder};
    *holder = st->copy;
    rq.set_extra(st);
    return encode(holder);
  }
  template <typename Tup>
  static void out(VmRequest& rq, ErlNifIOVec** pp, const Tup&) {
    auto* st = static_cast<State*>(rq.extra());
    if (pp == nullptr || st == nullptr) return;
    if (*st->holder == st->copy && st->copy != st->orig) {  // filled in place: copy back
      std::memcpy(st->orig, st->copy, sizeof(ErlNifIOVec));
      relocate_iovec(st->orig, st->copy, st->orig);
      *pp = st->orig;
    } else {
      *pp = *st->holder;  // a vector ERTS allocated (in the window)
    }
  }
};

}  // namespace nifshim::worker::kinds
