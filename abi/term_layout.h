// The term layout of ERTS on 64-bit (OTP 25; the tags are the same through
// 27), as the worker reads and builds terms directly on the shared heap
// (worker/enif_direct.cc). Nothing here is trusted blindly: when a library
// loads, the worker compares its readers and builders with terms the VM built
// with its own enif functions (the probe, priv_probe_terms), and uses none of
// this if anything differs. Source: erts/emulator/beam/erl_term.h.
#pragma once

#include <cstdint>
#include <cstring>

namespace nifshim::abi::term {

using Term = std::uint64_t;

// Primary tag: the low 2 bits.
inline constexpr Term kTagPrimaryMask = 0x3;
inline constexpr Term kTagPrimaryHeader = 0x0;
inline constexpr Term kTagPrimaryList = 0x1;
inline constexpr Term kTagPrimaryBoxed = 0x2;
inline constexpr Term kTagPrimaryImmed1 = 0x3;

// Immediates: low 4 bits, then low 6 bits for the immed2 class.
inline constexpr Term kImmed1Mask = 0xF;
inline constexpr Term kImmed1Pid = 0x3;
inline constexpr Term kImmed1Port = 0x7;
inline constexpr Term kImmed1Small = 0xF;
inline constexpr Term kImmed2Mask = 0x3F;
inline constexpr Term kImmed2Atom = 0x0B;
inline constexpr Term kNil = 0x3B;  // []

inline constexpr int kSmallBits = 60;  // a small integer has 60 signed bits
inline constexpr std::int64_t kMaxSmall = (std::int64_t{1} << (kSmallBits - 1)) - 1;
inline constexpr std::int64_t kMinSmall = -(std::int64_t{1} << (kSmallBits - 1));

// Header words: arity << 6 | subtag (4 bits) << 2.
inline constexpr Term kHeaderSubtagMask = 0x3F;
inline constexpr Term kArityval = 0x00;       // tuple
inline constexpr Term kPosBig = 0x08;
inline constexpr Term kNegBig = 0x0C;
inline constexpr Term kRef = 0x10;
inline constexpr Term kFun = 0x14;  // local and external funs alike
inline constexpr Term kFloat = 0x18;
inline constexpr Term kRefcBin = 0x20;
inline constexpr Term kHeapBin = 0x24;
inline constexpr Term kSubBin = 0x28;
inline constexpr Term kExternalPid = 0x30;
inline constexpr Term kExternalPort = 0x34;
inline constexpr Term kExternalRef = 0x38;
inline constexpr Term kMap = 0x3C;  // flatmaps and HAMT heads
inline constexpr int kHeaderArityOffset = 6;

inline bool is_immed(Term t) { return (t & kTagPrimaryMask) == kTagPrimaryImmed1; }
inline bool is_small(Term t) { return (t & kImmed1Mask) == kImmed1Small; }
inline bool is_atom(Term t) { return (t & kImmed2Mask) == kImmed2Atom; }
inline bool is_cons(Term t) { return (t & kTagPrimaryMask) == kTagPrimaryList; }
inline bool is_boxed(Term t) { return (t & kTagPrimaryMask) == kTagPrimaryBoxed; }

inline const Term* ptr(Term t) { return reinterpret_cast<const Term*>(t & ~kTagPrimaryMask); }
inline Term header_subtag(Term header) { return header & kHeaderSubtagMask; }
inline Term header_arity(Term header) { return header >> kHeaderArityOffset; }
inline Term boxed_subtag(Term t) { return header_subtag(*ptr(t)); }

inline std::int64_t small_value(Term t) { return static_cast<std::int64_t>(t) >> 4; }
inline Term make_small(std::int64_t v) { return (static_cast<Term>(v) << 4) | kImmed1Small; }
inline bool fits_small(std::int64_t v) { return v >= kMinSmall && v <= kMaxSmall; }

inline Term make_cons(const Term* cell) { return reinterpret_cast<Term>(cell) | kTagPrimaryList; }
inline Term make_boxed(const Term* p) { return reinterpret_cast<Term>(p) | kTagPrimaryBoxed; }
inline Term make_arityval(std::uint64_t arity) { return (arity << kHeaderArityOffset) | kArityval; }
inline constexpr Term kFloatHeader = (Term{1} << kHeaderArityOffset) | kFloat;  // one word of data

// Binaries (erl_binary.h, erl_bits.h, global.h).
inline constexpr std::size_t kOnHeapBinLimit = 64;  // ERL_ONHEAP_BIN_LIMIT
// ErlHeapBin: header, size, bytes.
inline constexpr std::size_t heap_bin_words(std::size_t bytes) { return 2 + (bytes + 7) / 8; }
inline constexpr Term heap_bin_header(std::size_t bytes) {
  return (Term(heap_bin_words(bytes) - 1) << kHeaderArityOffset) | kHeapBin;
}
// ProcBin: header, size, next, val (the Binary), bytes, flags.
inline constexpr Term kProcBinHeader = (Term{5} << kHeaderArityOffset) | kRefcBin;
inline constexpr int kProcBinVal = 3, kProcBinBytes = 4, kProcBinFlags = 5;
inline constexpr std::size_t kProcBinWords = 6;

// References (erl_term.h, 64-bit little endian): an ordinary ref and a magic
// ref (a resource's term) have the same header; word 1 of an ordinary one has
// the marker in its low half, a magic one's is its magic binary's address.
inline constexpr Term kRefThingHeader = (Term{2} << kHeaderArityOffset) | kRef;
inline constexpr std::size_t kMagicRefWords = 3;  // ErtsMRefThing: header, binary, next
inline constexpr std::uint32_t kOrdinaryRefMarker = 0xFFFFFFFFu;

// Binary and ErtsMagicBinary (erl_binary.h): flags, refc (an atomic word),
// orig_size, then a plain binary's bytes or a magic binary's destructor.
// ErtsResource (global.h, not a DEBUG build): type, monitors, then the
// object's data.
inline constexpr std::size_t kBinFlagsAt = 0, kBinRefcAt = 8, kBinOrigSizeAt = 16, kBinOrigBytesAt = 24,
                             kMagicBinDestructorAt = 24;
inline constexpr std::uint64_t kBinFlagMagic = 1;
inline constexpr std::size_t kResourceTypeBeforeData = 16;
// ErlSubBin: header, size, offs, {bitsize, bitoffs, is_writable} bytes, orig
// (not counted in the header's arity).
inline constexpr Term kSubBinHeader = (Term{3} << kHeaderArityOffset) | kSubBin;
inline constexpr std::size_t kSubBinWords = 5;
struct SubBin {
  Term header;
  std::uint64_t size;
  std::uint64_t offs;
  std::uint8_t bitsize, bitoffs, is_writable;
  Term orig;
};
static_assert(sizeof(SubBin) == kSubBinWords * sizeof(Term), "ErlSubBin is five words");

// Maps (erl_map.h): a flatmap is header (map subtag, head type 0), size,
// keys (a tuple), then the values; HAMT maps have other head types.
inline constexpr Term kMapHeadMask = 0xFC;  // _HEADER_MAP_SUBTAG_MASK
inline constexpr Term kFlatmapHead = kMap;  // HAMT_SUBTAG_HEAD_FLATMAP
inline constexpr int kFlatmapWords = 3;
inline bool is_flatmap_header(Term h) { return (h & kMapHeadMask) == kFlatmapHead; }

inline double float_value(Term t) {
  double d;
  std::memcpy(&d, ptr(t) + 1, sizeof d);
  return d;
}

}  // namespace nifshim::abi::term
