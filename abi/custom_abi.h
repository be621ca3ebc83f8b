// Slot layouts of the requests that are not generated from the table: the
// ENIF_CUSTOM functions (function pointers, file descriptors) and the
// worker's private requests. Written by worker/enif_custom.cc, read by
// shim/enif_serve_custom.cc.
#pragma once

namespace nifshim::abi {

// enif_open_resource_type, enif_open_resource_type_x, enif_init_resource_type
namespace rt {
enum : int { kEnv, kName, kFlags, kDtor, kStop, kDown, kDyncall, kMembers, kHasTried };
// reply: slot[0] = the VM's ErlNifResourceType*, slot[1] = *tried
}

// enif_schedule_nif
namespace sched {
enum : int { kEnv, kName, kFlags, kFn, kArgc, kArgv };
}

// enif_select, enif_select_x
namespace sel {
enum : int { kEnv, kWorkerFd, kFdToken, kMode, kObj, kPid, kRefOrMsg, kMsgEnv };
}

// enif_system_info: the VM fills buf (si_size bytes asked) and copies the
// strings it points at into strings (kStringsSize bytes, NUL-separated).
namespace sysinfo {
enum : int { kBuf, kSize, kStrings };
inline constexpr int kStringsSize = 256;
}

// enif_alloc_resource: [0] type, [1] size -> the VM's object (header first)
// enif_get_resource: [0] env, [1] term, [2] type -> 1/0, slot[1] = VM object
// enif_sizeof_resource: [0] VM object -> size the NIF asked for
namespace res {
enum : int { kA0, kA1, kA2 };
}

// enif_make_resource_binary: [0] env, [1] VM object, [2] data, [3] size,
// [4] 1 if data is a copy in scratch memory (the NIF's bytes were outside
// the window): the VM keeps its own copy for as long as the object lives.
namespace rbin {
enum : int { kEnv, kObj, kData, kSize, kCopied };
}

// enif_set_option: the option and, for ERL_NIF_OPT_ON_HALT and
// ERL_NIF_OPT_ON_UNLOAD_THREAD, the worker's callback (the VM registers a
// closure that runs it here with the library's priv_data).
namespace opt {
enum : int { kEnv, kOption, kCallback };
}

// priv_format_term: reply slot[0] = characters the text needs; kPrecision
// is %T's precision (ERTS's budget of elements and atom characters), or -1
namespace fmt {
enum : int { kTerm, kBuf, kSize, kPrecision };
}

// priv_probe_terms: reply slot[0] = the address (in the window) of an array
// of terms the VM built with its own enif functions, in this order; slot[1]
// = their count (worker/enif_direct.cc checks them).
namespace probe {
enum : int {
  kMinus5,        // make_int(-5)
  kMaxSmall,      // make_long(2^59 - 1)
  kMaxSmallPlus1, // make_long(2^59): a bignum
  kDouble,        // make_double(2.5)
  kAtomOk,        // make_atom("ok")
  kTuple,         // {-5, ok} (make_tuple_from_array)
  kCell,          // [-5] (make_list_cell)
  kNil,           // make_list_from_array(0)
  kEmptyTuple,    // make_tuple_from_array(0)
  kUlongMax,      // make_ulong(ULONG_MAX): a bignum
  kList2,         // [-5, ok] (make_list_from_array)
  kAtomOkLen,     // make_atom_len("ok", 2)
  kMap,           // make_new_map
  kRef,           // make_ref
  kHeapBin,       // make_new_binary(3) = <<1,2,3>>: a heap binary
  kSubBin,        // make_sub_binary(kRefcBin, 10, 20)
  kRefcBin,       // make_binary of alloc_binary(100) filled with 0..99: a refc binary
  kSubOfHeap,     // make_sub_binary(kHeapBin, 1, 2)
  kMap2,          // #{ok => -5, -5 => ok} (make_map_from_arrays): a flatmap
  kBigMap,        // #{1 => 1, ..., 40 => 40}: a HAMT map
  kEnvProc,       // not a term: the probe env's process, whose off-heap list
                  // holds kRefcBin's ProcBin alone (overhead 100 / 8 words)
  kCount
};
}

// priv_raise: reply slot[0] = the exception term
namespace raise {
enum : int { kEnv, kKind, kFunction, kReason };
}

// kLoad slots (LoadKind): load: env, load_info -> rc, priv
// upgrade: env, old_priv, load_info -> rc, priv, old_priv; unload: env, priv.
namespace load {
enum : int { kEnv, kPriv, kInfo };
}

// kCallback slots: dtor(env, obj), stop(env, obj, worker_fd, is_direct_call),
// down(env, obj, pid*, monitor*), dyncall(env, obj, call_data).
namespace cb {
enum : int { kEnv, kObj, kArg2, kArg3 };
}

}  // namespace nifshim::abi
