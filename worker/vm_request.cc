// Requests from the worker to the VM; see vm_request.h.
#include "vm_request.h"

#include <cstring>
#include <mutex>

#include "channel.h"
#include "local_alloc.h"
#include "log.h"
#include "test_hooks.h"
#include "thread_role.h"
#include "worker_state.h"

namespace nifshim::worker {
namespace {

// Threads without a channel of their own share the service channel, one
// request at a time. Recursive: a request may nest inside a callback served
// while this thread waits on the same channel.
std::recursive_mutex g_service_mu;

constexpr std::uint64_t kSpinNs = 20000;

}  // namespace

VmRequest::VmRequest(abi::ApiId id) : id_(id) {
  ThreadRole& r = thread_role();
  if (r.active != nullptr) {
    chan_ = r.active;
    base_ = r.top;
  } else {
    if (g_worker.service == nullptr) {
      log_error("worker: enif request %s from a thread with no channel before the service "
                "channel exists",
                abi::api_name(id));
      std::abort();
    }
    g_service_mu.lock();
    locked_service_ = true;
    chan_ = g_worker.service;
    base_ = 0;
    r.active = chan_;
    r.top = 0;
  }
  base_ = (base_ + 15) & ~std::uint64_t{15};
}

VmRequest::~VmRequest() {
  for (int i = 0; i < nspills_; ++i) local_free(spills_[i]);
  if (locked_service_) {
    ThreadRole& r = thread_role();
    r.active = nullptr;
    r.top = 0;
    g_service_mu.unlock();
  }
}

void* VmRequest::scratch(std::size_t n) {
  std::uint64_t at = (base_ + used_ + 15) & ~std::uint64_t{15};
  if (at + n <= abi::kChannelDataSize) {
    used_ = at + n - base_;
    return chan_->data + at;
  }
  if (nspills_ == kMaxSpills) return nullptr;
  void* p = local_alloc(n ? n : 1);  // in the shared arena: the VM can read it
  if (p) spills_[nspills_++] = p;
  return p;
}

void VmRequest::copy_back(void* orig, void* copy, std::size_t n) {
  if (ncopies_ == kMaxCopies) {
    fail("too many out-parameters");
    return;
  }
  copies_[ncopies_++] = Copy{orig, copy, n};
}

void* VmRequest::original_of(void* copy) const {
  for (int i = 0; i < ncopies_; ++i)
    if (copies_[i].copy == copy) return copies_[i].orig;
  return copy;
}

void VmRequest::finish_copies() {
  for (int i = 0; i < ncopies_; ++i) std::memcpy(copies_[i].orig, copies_[i].copy, copies_[i].n);
}

std::uint64_t VmRequest::send() {
  abi::Message& m = chan_->msg;
  m.kind = abi::Msg::kEnif;
  m.api = static_cast<std::uint16_t>(id_);
  m.top = base_ + used_;
  // The direct heap: the VM continues where the worker's own terms end, and
  // says where the request left it (ERTS may have moved to a heap fragment).
  ThreadRole& r = thread_role();
  const bool direct = r.hp != 0 && chan_ == r.active;
  m.hp = direct ? r.hp : 0;
  channel_post(chan_, abi::kSideVm);
  test_die_point(DiePoint::kEnif);
  await_vm(chan_, abi::Msg::kReply);
  if ((direct || id_ == abi::ApiId::priv_heap_reserve) && m.hp != 0) {
    r.hp = m.hp;
    r.hp_end = m.hp_end;
  }
  return chan_->msg.slot[0];
}

void await_vm(abi::Channel* c, abi::Msg want) {
  for (;;) {
    channel_wait(c, abi::kSideWorker, kSpinNs, 0, nullptr, nullptr);
    if (c->msg.kind == want) return;
    serve_vm_message(c);  // nested: a callback or call while we wait
  }
}

}  // namespace nifshim::worker
