// libffi closures; see ffi_closure.h.
#include "ffi_closure.h"

#include "log.h"

namespace nifshim {

FfiClosure::FfiClosure(ffi_type* ret, int nargs, ffi_type* const* args, Handler h, void* user) {
  if (nargs > kMaxArgs) {
    log_error("closure with %d arguments (at most %d)", nargs, kMaxArgs);
    return;
  }
  for (int i = 0; i < nargs; ++i) args_[i] = args[i];
  void* code = nullptr;
  closure_ = static_cast<ffi_closure*>(ffi_closure_alloc(sizeof(ffi_closure), &code));
  if (closure_ == nullptr) {
    log_error("ffi_closure_alloc failed");
    return;
  }
  if (ffi_prep_cif(&cif_, FFI_DEFAULT_ABI, static_cast<unsigned>(nargs), ret, args_) != FFI_OK) {
    log_error("ffi_prep_cif failed");
    return;
  }
  if (ffi_prep_closure_loc(closure_, &cif_, h, user, code) != FFI_OK) {
    log_error("ffi_prep_closure_loc failed");
    return;
  }
  code_ = code;
}

FfiClosure::~FfiClosure() {
  if (closure_ != nullptr) ffi_closure_free(closure_);
}

}  // namespace nifshim
