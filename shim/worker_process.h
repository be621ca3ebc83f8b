// One nifshim-worker process as the VM sees it: spawning it, the control
// socket, the call channels of the VM threads that call into it, the service
// channel for threads the NIF creates, the descriptors it passed for
// enif_select, and its death.
#pragma once

#include <sys/types.h>

#include <erl_nif.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

#include "channel_abi.h"
#include "control_abi.h"
#include "crash_abi.h"
#include "worker_stats_abi.h"

namespace nifshim {

// The channels the calling VM thread is exchanging on now, innermost last
// (an exchange nests inside the serving of another's request: a destructor
// the VM runs inside enif_release_resource calls its worker). A channel in
// use is never taken over by a later worker (Worker::thread_channel), even
// when its worker has died and been reaped meanwhile: the outer exchange
// still writes its reply there. RAII, one per exchange.
class ChannelInUse {
 public:
  explicit ChannelInUse(abi::Channel* c);
  ~ChannelInUse();
  ChannelInUse(const ChannelInUse&) = delete;
  ChannelInUse& operator=(const ChannelInUse&) = delete;
  static bool here(const abi::Channel* c);
};

class Worker {
 public:
  // Spawns a worker for the library at `path` (`name`: its base name) and
  // waits until it serves. A restart passes the dead `previous` worker: its
  // arena (emptied) and crash record (cleared) are reused, so restarts do not
  // use up the window. nullptr on failure, with the reason in `err`.
  static Worker* start(const char* path, const char* name, Worker* previous, char* err,
                       std::size_t errlen);
  ~Worker();  // stops the process (if still running) and frees its channels
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  const char* name() const { return name_; }
  // The library it hosts (set once by its opener; not owned).
  struct NifLibrary* owner() const { return owner_; }
  void set_owner(struct NifLibrary* lib) { owner_ = lib; }
  // The VM is done with the library: the worker exits (its death is expected).
  void close();
  // After death: joins its service thread and closes its descriptors (the
  // restart that replaces it calls this; idempotent).
  void reap();
  // A call overran its deadline: the worker is killed (SIGKILL).
  void kill_for_deadline(long ms);
  // It sent a message the VM did not expect: killed (SIGKILL), its channels
  // are not trusted again.
  void kill_for_protocol_error(unsigned kind);
  // nifshim:restart/1: the worker is killed so the next call starts afresh.
  void kill_on_demand();
  long uptime_ms() const;
  pid_t pid() const { return pid_; }
  bool alive() const { return !dead_.load(std::memory_order_acquire); }
  // Reaped: dead, its threads joined, its channels abandoned and emptied.
  // Nothing touches them for it again, so a later worker may take them.
  bool retired() const { return retired_.load(std::memory_order_acquire); }
  // How it died: "signal 11 (SIGSEGV)", "exit status 3", ...
  const char* death() const { return death_; }
  // After death: the fatal signal (0 if none), its fault address, the exit
  // status (-1 if none), and the crashing thread's frames (see crash_abi.h).
  int signal() const { return signal_; }
  std::uint64_t fault_address() const { return fault_address_; }
  int exit_status() const { return exit_status_; }
  // After death: the core's path (or where it went), "" if none was asked for.
  const char* core() const { return core_; }
  const abi::CrashRecord* crash_record() const { return dead_.load() ? &last_crash_ : nullptr; }
  // While it lives: what it counts itself (abi/worker_stats_abi.h), or nullptr.
  const abi::WorkerStats* stats() const { return alive() ? abi::worker_stats(crash_) : nullptr; }

  // Asks it to load the library into buf (in the window); false if it died.
  bool load(abi::LoadBuffer* buf, std::size_t size);

  // The calling VM thread's channel to this worker, opened on first use; and
  // where this thread's next message starts in its data area. nullptr if the
  // worker is dead or the channel cannot be opened.
  abi::Channel* thread_channel(std::uint64_t** top);

  // The NIF function the calling thread is running in this worker (for the
  // crash report of a death nobody is waiting on). Set around each call.
  void set_inflight(const char* fname);

  // How the crash report names the library (set by its opener; not owned).
  void set_report_library(const char* path) { report_library_ = path; }

  // enif_select: the VM's copy of the worker's descriptor that the worker
  // calls `token` (received over the fd socket the first time; -1 if it is
  // not there), and the worker's number for it, for the stop callback.
  int vm_fd_for(std::uint32_t token);
  int worker_fd_for(int vm_fd);
  // The stop callback ran: the VM's copy is closed.
  void forget_vm_fd(int vm_fd);
  // ERTS selects the VM's copy for resource `vm_obj` (what enif_select got).
  void note_selected(int vm_fd, void* vm_obj);
  // The stop callback of a dead worker's object (skipped: its NIF is gone):
  // whichever worker's copy vm_fd is gets closed.
  static void forget_vm_fd_of_any(int vm_fd);

 private:
  Worker() = default;
  bool spawn(Worker* previous, char* err, std::size_t errlen);
  bool control(abi::Ctl kind, std::uint32_t status, std::uint64_t arg, abi::CtlMsg* reply);
  abi::Channel* new_channel(abi::Side first);
  // Takes c (a new mapping, or a reaped worker's channel) as one of this
  // worker's, initialised for `first` to write.
  abi::Channel* adopt_channel(abi::Channel* c, abi::Side first);
  static void* monitor_main(void* self);
  static void* service_main(void* self);
  void on_death(int code, int status);
  void stop_selected();

  char name_[64] = {};
  struct NifLibrary* owner_ = nullptr;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int ctl_fd_ = -1;
  int fdpass_fd_ = -1;
  std::uint64_t serial_ = 0;
  void* arena_ = nullptr;
  std::size_t arena_size_ = 0;
  abi::Channel* service_ = nullptr;
  ErlNifTid service_tid_{};
  bool reaped_ = false;
  std::atomic<bool> dead_{false};
  std::atomic<bool> retired_{false};
  std::atomic<bool> closing_{false};
  char death_[128] = "running";
  char core_[4352] = "";  // NIFSHIM_CORE_DIR: where its core went ("" if none)
  abi::CrashRecord* crash_ = nullptr;  // in the window; the worker writes it
  abi::CrashRecord last_crash_{};      // copied at death (the page is reused on restart)
  int signal_ = 0;
  std::uint64_t fault_address_ = 0;
  int exit_status_ = -1;
  std::atomic<long> deadline_killed_ms_{0};
  std::atomic<bool> killed_on_demand_{false};
  long oom_kills_at_start_ = -1;  // the cgroup's OOM kill count when it started
  std::atomic<int> protocol_error_{-1};  // the unexpected message's kind
  static constexpr int kMaxInflight = 64;
  std::atomic<const char*> inflight_[kMaxInflight] = {};
  std::atomic<int> next_slot_{0};
  const char* report_library_ = "";
  ErlNifTid monitor_tid_{};
  void report_death(const char* fname);
  std::uint64_t started_ns_ = 0;

  std::mutex mu_;                        // channels_, control socket
  std::vector<abi::Channel*> channels_;  // every channel, for wake-ups on death
  // The VM's copies of the worker's descriptors. Keyed by the worker's token,
  // not its number: the NIF may close one and get the number again for
  // another while ERTS still stops the first.
  struct VmFd {
    std::uint32_t token;
    int worker_fd;
    void* selected_for = nullptr;  // the resource ERTS selects it for, once it does
  };
  std::mutex fd_mu_;                         // both maps, the fd socket
  std::map<std::uint32_t, int> vm_fd_of_;   // token -> VM fd
  std::map<int, VmFd> worker_fd_of_;        // VM fd -> what it is to the worker
};

}  // namespace nifshim
