// One request from the worker to the VM (an enif call the VM must run): picks
// the channel (the one this thread serves, else the shared service channel),
// lends scratch space for copied arguments from the channel's data stack,
// sends, and waits for the reply -- serving whatever the VM sends meanwhile
// (a resource destructor, a nested NIF call).
#pragma once

#include <cstddef>
#include <cstdint>

#include "channel_abi.h"
#include "enif_api.h"

namespace nifshim::worker {

class VmRequest {
 public:
  explicit VmRequest(abi::ApiId id);
  ~VmRequest();
  VmRequest(const VmRequest&) = delete;
  VmRequest& operator=(const VmRequest&) = delete;

  abi::Message& msg() { return chan_->msg; }
  abi::Channel* channel() { return chan_; }

  // Scratch memory the VM can address (channel data, else the shared arena);
  // valid until this request ends. nullptr if none can be had.
  void* scratch(std::size_t n);

  // Remembers that `copy` stands for the caller's `orig` (copied back after
  // the reply, and mapped back if the VM returns `copy`).
  void copy_back(void* orig, void* copy, std::size_t n);
  void* original_of(void* copy) const;
  void finish_copies();

  // One kind-specific state pointer per request (see kinds::IoVecOut).
  void set_extra(void* p) { extra_ = p; }
  void* extra() const { return extra_; }

  // A precondition failed: the request is not sent; `why` is logged.
  void fail(const char* why) { failed_ = why; }
  const char* failed() const { return failed_; }

  // Sends and waits for kReply; returns slot[0] of the reply.
  std::uint64_t send();

 private:
  static constexpr int kMaxCopies = 8;
  static constexpr int kMaxSpills = 8;
  struct Copy { void* orig; void* copy; std::size_t n; };

  abi::ApiId id_;
  abi::Channel* chan_;
  bool locked_service_ = false;
  std::uint64_t base_, used_ = 0;
  Copy copies_[kMaxCopies];
  int ncopies_ = 0;
  void* spills_[kMaxSpills];
  int nspills_ = 0;
  const char* failed_ = nullptr;
  void* extra_ = nullptr;
};

// Serves one message the VM sent on `c` (kCall, kCallback, kLoad) and posts
// the answer. Implemented in serve.cc.
void serve_vm_message(abi::Channel* c);

// Waits on `c` for the VM's answer to what this thread posted, serving nested
// messages meanwhile. Returns when c->msg is of kind `want`.
void await_vm(abi::Channel* c, abi::Msg want);

}  // namespace nifshim::worker
