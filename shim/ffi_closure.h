// A libffi closure as one object (as CPython's ctypes does it): it owns the
// cif, its argument types and the closure; the VM gets code(), an ordinary
// function pointer that calls handler(cif, ret, args, user). The closure
// points at the cif inside this object, so it neither copies nor moves: hold
// it by unique_ptr.
#pragma once

#include <ffi.h>

namespace nifshim {

class FfiClosure {
 public:
  using Handler = void (*)(ffi_cif*, void* ret, void** args, void* user);
  static constexpr int kMaxArgs = 6;

  // Check ok() afterwards; on failure a log line says why.
  FfiClosure(ffi_type* ret, int nargs, ffi_type* const* args, Handler h, void* user);
  ~FfiClosure();
  FfiClosure(const FfiClosure&) = delete;
  FfiClosure& operator=(const FfiClosure&) = delete;

  bool ok() const { return code_ != nullptr; }
  void* code() const { return code_; }

 private:
  ffi_cif cif_{};
  ffi_type* args_[kMaxArgs] = {};
  ffi_closure* closure_ = nullptr;
  void* code_ = nullptr;
};

}  // namespace nifshim
