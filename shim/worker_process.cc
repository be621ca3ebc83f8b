// Spawning and tending nifshim-worker processes; see worker_process.h.
#include "worker_process.h"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <clocale>
#include <ctime>
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <string>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "channel.h"
#include "core_dumps.h"
#include "enif_serve.h"
#include "error_terms.h"
#include "fd_passing.h"
#include "log.h"
#include "real_enif.h"
#include "shim_state.h"
#include "window_abi.h"
#include "worker_spawn.h"

extern "C" char** environ;

namespace nifshim {
namespace {

constexpr std::uint64_t kSpinNs = 20000;
constexpr std::size_t kArenaAlign = std::size_t{32} << 20;  // mimalloc's arena alignment
std::atomic<std::uint64_t> g_serial{0};

std::size_t arena_size() {
  const char* s = std::getenv("NIFSHIM_WORKER_ARENA");
  std::size_t n = s ? parse_size(s) : 0;
  return n ? (n + kArenaAlign - 1) & ~(kArenaAlign - 1) : std::size_t{4} << 30;
}

bool executable(const std::string& p) { return access(p.c_str(), X_OK) == 0; }

// $NIFSHIM_WORKER, else next to libnifshim.so: build tree or installation.
std::string worker_path() {
  if (const char* p = std::getenv("NIFSHIM_WORKER"); p && *p) return p;
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&worker_path), &info) == 0 || info.dli_fname == nullptr)
    return {};
  std::string dir = info.dli_fname;
  dir = dir.substr(0, dir.rfind('/'));
  for (const char* rel : {"/../worker/nifshim-worker", "/nifshim-worker",
                          "/../libexec/nifshim-worker", "/../../libexec/nifshim-worker"}) {
    std::string p = dir + rel;
    if (executable(p)) return p;
  }
  return dir + "/../libexec/nifshim-worker";
}

// NIFSHIM_TEST_DIE_AT (worker/test_hooks.h) kills a worker at one protocol
// point: only the first worker of a library gets it, so that its
// replacement serves; a hook for the load point only the first restart's.
bool test_hook_for(const char* entry, bool restart) {
  const char* v = entry + std::strlen("NIFSHIM_TEST_DIE_AT=");
  const char* point = std::strchr(v, ':');
  const bool load = point != nullptr && std::strncmp(point + 1, "load:", 5) == 0;
  static std::atomic<bool> restarted_once{false};
  if (!load) return !restart;
  return restart && !restarted_once.exchange(true);
}

// The worker gets beam.smp's environment without the preload.
std::vector<char*> worker_env(bool restart) {
  std::vector<char*> env;
  for (char** e = environ; e && *e; ++e) {
    if (std::strncmp(*e, "LD_PRELOAD=", 11) == 0) continue;
    if (std::strncmp(*e, "NIFSHIM_TEST_DIE_AT=", 20) == 0 && !test_hook_for(*e, restart)) continue;
    env.push_back(*e);
  }
  env.push_back(nullptr);
  return env;
}

// The OOM kills the kernel counted in this process's cgroup (memory.events,
// cgroup v2), or -1 where that is not readable. A rise over a worker's life
// is the kernel saying that its SIGKILL came from the OOM killer.
long cgroup_oom_kills() {
  char line[512];
  std::string path;
  if (FILE* f = std::fopen("/proc/self/cgroup", "re")) {
    while (std::fgets(line, sizeof line, f))
      if (std::strncmp(line, "0::", 3) == 0) {
        path = line + 3;
        while (!path.empty() && path.back() == '\n') path.pop_back();
      }
    std::fclose(f);
  }
  if (path.empty()) return -1;
  FILE* f = std::fopen(("/sys/fs/cgroup" + path + "/memory.events").c_str(), "re");
  if (f == nullptr) return -1;
  long n = -1;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "oom_kill %ld", &n) == 1) break;
  std::fclose(f);
  return n;
}

int high_dup(int fd) { return fcntl(fd, F_DUPFD_CLOEXEC, 64); }

// The VM thread's channels, found without locks on every call.
struct TlsChannel {
  std::uint64_t serial;
  abi::Channel* channel;
  std::uint64_t top;
  int slot;        // this thread's in-flight slot in the worker
  Worker* worker;  // never freed, so it can be asked whether it is alive
};
constexpr int kTlsChannels = 64;
thread_local TlsChannel t_channels[kTlsChannels];
thread_local int t_nchannels = 0;

// Every restart makes a new worker (a new serial): once the table is full, a
// dead worker's entry is reused, so a live worker's channel is never evicted
// (that would cost it a new channel and a new serving thread). Only with 64
// live workers on one thread does one of them lose its entry.
TlsChannel* tls_add(Worker* w, std::uint64_t serial, abi::Channel* c, int slot) {
  int i = -1;
  for (int k = 0; k < t_nchannels && i < 0; ++k)
    if (t_channels[k].channel == nullptr) i = k;  // its channel went to a later worker
  if (i < 0 && t_nchannels < kTlsChannels) i = t_nchannels++;
  for (int k = 0; k < kTlsChannels && i < 0; ++k)
    if (!t_channels[k].worker->alive()) i = k;
  if (i < 0) i = int(serial % kTlsChannels);
  t_channels[i] = TlsChannel{serial, c, 0, slot, w};
  return &t_channels[i];
}

thread_local TlsChannel* t_last = nullptr;  // the entry thread_channel() found last

bool worker_alive(void* w) { return static_cast<Worker*>(w)->alive(); }

// ChannelInUse: nesting deeper than this is refused by the VM's stack long
// before (each level is a NIF call and an enif call); past it, channels are
// simply not marked, and never adopted while any is (t_busy_overflow).
constexpr int kMaxNesting = 32;
thread_local abi::Channel* t_busy[kMaxNesting];
thread_local int t_nbusy = 0;

}  // namespace

ChannelInUse::ChannelInUse(abi::Channel* c) {
  if (t_nbusy < kMaxNesting) t_busy[t_nbusy] = c;
  ++t_nbusy;
}

ChannelInUse::~ChannelInUse() { --t_nbusy; }

bool ChannelInUse::here(const abi::Channel* c) {
  if (t_nbusy > kMaxNesting) return true;
  for (int i = 0; i < t_nbusy; ++i)
    if (t_busy[i] == c) return true;
  return false;
}

Worker* Worker::start(const char* path, const char* name, Worker* previous, char* err,
                      std::size_t errlen) {
  auto* w = new Worker;
  std::snprintf(w->name_, sizeof w->name_, "%s", name);
  w->serial_ = ++g_serial;
  if (!w->spawn(previous, err, errlen)) {
    delete w;
    return nullptr;
  }
  // An ERTS thread: it may send the crash report (enif_send with a NULL env).
  if (real().thread_create(const_cast<char*>("nifshim_monitor"), &w->monitor_tid_, monitor_main, w,
                           nullptr) != 0) {
    std::snprintf(err, errlen, "nifshim: cannot create the monitor thread for %s", path);
    kill(w->pid_, SIGKILL);
    return nullptr;
  }

  // Threads the NIF creates send their requests here; an ERTS thread serves
  // them. A restart takes over the reaped predecessor's service channel.
  if (previous != nullptr && previous->retired() && previous->service_ != nullptr) {
    w->service_ = w->adopt_channel(previous->service_, abi::kSideWorker);
    previous->service_ = nullptr;
  } else {
    w->service_ = w->new_channel(abi::kSideWorker);
  }
  abi::CtlMsg reply;
  if (w->service_ == nullptr ||
      !w->control(abi::Ctl::kServiceChannel, 0, reinterpret_cast<std::uint64_t>(w->service_), &reply) ||
      real().thread_create(const_cast<char*>("nifshim_service"), &w->service_tid_, service_main, w,
                           nullptr) != 0) {
    std::snprintf(err, errlen, "nifshim: the worker for %s did not start (%s)", path, w->death());
    w->closing_ = true;
    kill(w->pid_, SIGKILL);
    return nullptr;  // the monitor thread still holds it: not freed
  }
  return w;
}

bool Worker::spawn(Worker* previous, char* err, std::size_t errlen) {
  WindowMapper* m = g_shim.active_mapper();
  std::string exe = worker_path();
  if (!executable(exe)) {
    std::snprintf(err, errlen, "nifshim: worker program %s not found (set NIFSHIM_WORKER)", exe.c_str());
    return false;
  }
  if (previous != nullptr && previous->arena_ != nullptr) {
    // The dead worker's arena, emptied: mimalloc wants it reading as zero.
    arena_size_ = previous->arena_size_;
    arena_ = previous->arena_;
    previous->arena_ = nullptr;
    m->advise(arena_, arena_size_, MADV_DONTNEED);
  } else {
    arena_size_ = arena_size();
    arena_ = m->map_aligned(arena_size_, kArenaAlign, PROT_READ | PROT_WRITE);
  }
  if (arena_ == MAP_FAILED) {
    arena_ = nullptr;
    std::snprintf(err, errlen, "nifshim: no room in the window for a %zu-byte worker arena", arena_size_);
    return false;
  }
  // The worker's memory, not the VM's: out of beam.smp's core dumps.
  m->advise(arena_, arena_size_, MADV_DONTDUMP);
  int ctl[2], fdp[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) != 0 ||
      socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fdp) != 0) {
    std::snprintf(err, errlen, "nifshim: socketpair: %s", std::strerror(errno));
    return false;
  }
  // Move the child's ends out of the way of the 3..5 they are dup'ed onto.
  int src[3] = {high_dup(m->window().fd), high_dup(ctl[1]), high_dup(fdp[1])};
  ::close(ctl[1]);
  ::close(fdp[1]);
  ctl_fd_ = ctl[0];
  fdpass_fd_ = fdp[0];

  if (previous != nullptr && previous->crash_ != nullptr) {
    crash_ = previous->crash_;  // read by nobody any more: the death is recorded
    previous->crash_ = nullptr;
    m->advise(crash_, abi::kCrashRecordSize, MADV_DONTNEED);
  } else {
    crash_ = static_cast<abi::CrashRecord*>(m->map(abi::kCrashRecordSize, PROT_READ | PROT_WRITE, 0));
    if (crash_ == MAP_FAILED) crash_ = nullptr;
  }
  char base[32], size[32], abase[32], asize[32], crash[32], state[32];
  const Window& win = m->window();
  std::snprintf(base, sizeof base, "%#lx", static_cast<unsigned long>(win.base));
  std::snprintf(size, sizeof size, "%zu", win.size);
  std::snprintf(abase, sizeof abase, "%p", arena_);
  std::snprintf(asize, sizeof asize, "%zu", arena_size_);
  std::snprintf(crash, sizeof crash, "%p", static_cast<void*>(crash_));
  std::snprintf(state, sizeof state, "%p", static_cast<void*>(g_shim.vm_state));
  // The VM's locale as ERTS set it at boot (LC_CTYPE from the environment),
  // each category: the worker sets the same (glibc takes this composite
  // "LC_CTYPE=...;LC_NUMERIC=..." form, or one name when all agree).
  const char* locale = setlocale(LC_ALL, nullptr);
  std::string vm_locale = locale ? locale : "C";
  // The signals the VM ignores, for the worker's crash handler (SIGFPE).
  unsigned long long ignored = 0;
  for (int s = 1; s < 64; ++s) {
    struct sigaction sa{};
    if (sigaction(s, nullptr, &sa) == 0 && sa.sa_handler == SIG_IGN) ignored |= 1ull << (s - 1);
  }
  char sigign[32];
  std::snprintf(sigign, sizeof sigign, "%#llx", ignored);
  char* argv[] = {const_cast<char*>("nifshim-worker"), name_, base, size, abase, asize, crash, state,
                  vm_locale.data(), sigign, nullptr};
  std::vector<char*> env = worker_env(previous != nullptr);
  oom_kills_at_start_ = cgroup_oom_kills();
  SpawnRequest req{exe.c_str(), argv, env.data(), {src[0], src[1], src[2]}};
  Spawned child = spawn_worker_process(req);
  for (int fd : src) ::close(fd);
  if (child.pid < 0 || child.pidfd < 0) {
    std::snprintf(err, errlen, "nifshim: cannot start %s: %s", exe.c_str(), std::strerror(child.error));
    if (child.pid > 0) kill(child.pid, SIGKILL);
    return false;
  }
  pid_ = child.pid;
  pidfd_ = child.pidfd;
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  started_ns_ = std::uint64_t(ts.tv_sec) * 1000000000u + std::uint64_t(ts.tv_nsec);
  log_debug("worker for %s: pid %d", name_, pid_);
  return true;
}

void Worker::kill_for_deadline(long ms) {
  long none = 0;
  if (deadline_killed_ms_.compare_exchange_strong(none, ms)) kill(pid_, SIGKILL);
}

void Worker::kill_for_protocol_error(unsigned kind) {
  int none = -1;
  if (protocol_error_.compare_exchange_strong(none, int(kind & 0xffff))) kill(pid_, SIGKILL);
}

void Worker::kill_on_demand() {
  if (!killed_on_demand_.exchange(true)) kill(pid_, SIGKILL);
}

long Worker::uptime_ms() const {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return long((std::uint64_t(ts.tv_sec) * 1000000000u + std::uint64_t(ts.tv_nsec) - started_ns_) / 1000000u);
}

void Worker::reap() {
  if (reaped_ || alive()) return;
  reaped_ = true;
  real().thread_join(service_tid_, nullptr);  // it left its loop when the worker died
  real().thread_join(monitor_tid_, nullptr);  // it returned after recording the death
  std::lock_guard<std::mutex> g(mu_);
  // on_death gave the channels' data pages back already. The first page
  // stays as it is: a VM thread that has not yet woken from its wait on
  // this worker must still find the turn word saying nobody's (kSideNone).
  // Zeroed, it would read kSideVm, its turn, with a message of kind 0.
  if (ctl_fd_ >= 0) ::close(ctl_fd_);
  ctl_fd_ = -1;
  {
    std::lock_guard<std::mutex> f(fd_mu_);
    if (fdpass_fd_ >= 0) ::close(fdpass_fd_);
    fdpass_fd_ = -1;
  }
  retired_.store(true, std::memory_order_release);  // the channels may serve later workers
}

void Worker::close() {
  closing_.store(true);
  shutdown(ctl_fd_, SHUT_RDWR);  // the worker sees EOF and exits
}

Worker::~Worker() {
  if (ctl_fd_ >= 0) ::close(ctl_fd_);
  if (fdpass_fd_ >= 0) ::close(fdpass_fd_);
}

bool Worker::control(abi::Ctl kind, std::uint32_t status, std::uint64_t arg, abi::CtlMsg* reply) {
  std::lock_guard<std::mutex> g(mu_);
  abi::CtlMsg m{kind, status, arg};
  if (send(ctl_fd_, &m, sizeof m, MSG_NOSIGNAL) != sizeof m) return false;
  for (;;) {
    ssize_t n = recv(ctl_fd_, reply, sizeof *reply, 0);
    if (n < 0 && errno == EINTR) continue;
    return n == sizeof *reply && reply->arg == arg;
  }
}

bool Worker::load(abi::LoadBuffer* buf, std::size_t size) {
  abi::CtlMsg reply;
  return control(abi::Ctl::kLoad, static_cast<std::uint32_t>(size),
                 reinterpret_cast<std::uint64_t>(buf), &reply) &&
         reply.kind == abi::Ctl::kLoaded;
}

abi::Channel* Worker::new_channel(abi::Side first) {
  void* p = g_shim.active_mapper()->map(sizeof(abi::Channel), PROT_READ | PROT_WRITE, 0);
  return p == MAP_FAILED ? nullptr : adopt_channel(static_cast<abi::Channel*>(p), first);
}

abi::Channel* Worker::adopt_channel(abi::Channel* c, abi::Side first) {
  channel_init(c, first);
  std::lock_guard<std::mutex> g(mu_);
  channels_.push_back(c);
  return c;
}

abi::Channel* Worker::thread_channel(std::uint64_t** top) {
  for (int i = 0; i < t_nchannels; ++i)
    if (t_channels[i].serial == serial_) {
      t_last = &t_channels[i];
      *top = &t_channels[i].top;
      return t_channels[i].channel;
    }
  if (!alive()) return nullptr;
  // This thread's channel of a retired worker (one a restart replaced) is
  // taken over, so restarts do not leave a 1 MiB range of the window behind
  // per VM thread: only this thread ever used it, and it is here now.
  abi::Channel* c = nullptr;
  for (int i = 0; i < t_nchannels && c == nullptr; ++i)
    if (t_channels[i].channel != nullptr && t_channels[i].worker != this && t_channels[i].worker->retired() &&
        !ChannelInUse::here(t_channels[i].channel)) {
      c = adopt_channel(t_channels[i].channel, abi::kSideVm);
      t_channels[i].channel = nullptr;  // the entry is free for tls_add
      t_channels[i].serial = 0;         // serials start at 1
    }
  if (c == nullptr) c = new_channel(abi::kSideVm);
  abi::CtlMsg reply;
  if (c == nullptr || !control(abi::Ctl::kOpenChannel, 0, reinterpret_cast<std::uint64_t>(c), &reply) ||
      reply.status != 0) {
    log_error("worker for %s: cannot open a channel for this thread", name_);
    return nullptr;
  }
  TlsChannel* t = tls_add(this, serial_, c, next_slot_.fetch_add(1) % kMaxInflight);
  t_last = t;
  *top = &t->top;
  return c;
}

void Worker::set_inflight(const char* fname) {
  if (t_last != nullptr && t_last->serial == serial_)
    inflight_[t_last->slot].store(fname, std::memory_order_relaxed);
}

namespace {
// Which worker each VM copy of a descriptor belongs to (dead workers' records
// stay allocated), for the stop callbacks that come after a restart. Never
// destroyed, like every global of the shim: exit() runs static destructors
// while the VM's other threads still call stop callbacks and serve requests
// (tests/tools/exit_safe.sh).
std::mutex g_fd_owner_mu;
std::map<int, Worker*>& g_fd_owner = *new std::map<int, Worker*>;
}  // namespace

int Worker::vm_fd_for(std::uint32_t token) {
  std::lock_guard<std::mutex> g(fd_mu_);
  if (auto it = vm_fd_of_.find(token); it != vm_fd_of_.end()) return it->second;
  // The worker sent it before its request, and others' may be before it;
  // the socket is never waited on (a lost message must not hang a scheduler).
  for (;;) {
    int vm_fd = -1;
    std::uint64_t tag = 0;
    if (fdpass_fd_ < 0 || !fd_receive(fdpass_fd_, &vm_fd, &tag)) return -1;
    vm_fd_of_[fd_tag_token(tag)] = vm_fd;
    worker_fd_of_[vm_fd] = VmFd{fd_tag_token(tag), fd_tag_fd(tag)};
    {
      std::lock_guard<std::mutex> o(g_fd_owner_mu);
      g_fd_owner[vm_fd] = this;
    }
    if (fd_tag_token(tag) == token) return vm_fd;
  }
}

int Worker::worker_fd_for(int vm_fd) {
  std::lock_guard<std::mutex> g(fd_mu_);
  auto it = worker_fd_of_.find(vm_fd);
  return it == worker_fd_of_.end() ? -1 : it->second.worker_fd;
}

void Worker::forget_vm_fd(int vm_fd) {
  std::lock_guard<std::mutex> g(fd_mu_);
  auto it = worker_fd_of_.find(vm_fd);
  if (it == worker_fd_of_.end()) return;
  vm_fd_of_.erase(it->second.token);
  worker_fd_of_.erase(it);
  {
    std::lock_guard<std::mutex> o(g_fd_owner_mu);
    g_fd_owner.erase(vm_fd);
  }
  ::close(vm_fd);
}

void Worker::forget_vm_fd_of_any(int vm_fd) {
  Worker* w;
  {
    std::lock_guard<std::mutex> o(g_fd_owner_mu);
    auto it = g_fd_owner.find(vm_fd);
    if (it == g_fd_owner.end()) return;
    w = it->second;
  }
  w->forget_vm_fd(vm_fd);
}

void Worker::note_selected(int vm_fd, void* vm_obj) {
  std::lock_guard<std::mutex> g(fd_mu_);
  if (auto it = worker_fd_of_.find(vm_fd); it != worker_fd_of_.end()) it->second.selected_for = vm_obj;
}

// ERTS keeps a selected descriptor in its poll set, and a reference to the
// resource, until the NIF stops it, which a dead worker's NIF never will:
// each is stopped now. ERTS runs the stop callback (here or later on a
// scheduler), which closes the VM's copy (nif_library.cc on_callback).
void Worker::stop_selected() {
  std::vector<std::pair<int, void*>> sel;
  {
    std::lock_guard<std::mutex> g(fd_mu_);
    for (const auto& [fd, v] : worker_fd_of_)
      if (v.selected_for != nullptr) sel.emplace_back(fd, v.selected_for);
  }
  auto stop = reinterpret_cast<decltype(&enif_select)>(real_enif_fn(abi::ApiId::enif_select));
  for (auto [fd, obj] : sel) {
    const int r = stop(nullptr, fd, ERL_NIF_SELECT_STOP, obj, nullptr, 0);
    if (r < 0) {
      log_error("worker for %s: ERTS refused to stop the dead worker's fd %d (%d): closed", name_, fd, r);
      forget_vm_fd(fd);
    }
  }
  if (!sel.empty()) log_debug("worker for %s: %zu selected fds of the dead worker stopped", name_, sel.size());
}

void* Worker::monitor_main(void* self) {
  auto* w = static_cast<Worker*>(self);
  pollfd p{w->pidfd_, POLLIN, 0};
  while (poll(&p, 1, -1) < 0 && errno == EINTR) {
  }
  // Where something else set SIGCHLD to its default in the VM, it is a
  // zombie to read; under ERTS the kernel reaped it and only the pidfd knows.
  siginfo_t si{};
  if (waitid(static_cast<idtype_t>(3) /* P_PIDFD */, static_cast<id_t>(w->pidfd_), &si, WEXITED) != 0) {
    si.si_code = 0;
    if (int st = reaped_exit_status(w->pidfd_); st >= 0) {
      si.si_code = WIFEXITED(st) ? CLD_EXITED : WCOREDUMP(st) ? CLD_DUMPED : CLD_KILLED;
      si.si_status = WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st);
    }
  }
  w->on_death(si.si_code, si.si_status);
  ::close(w->pidfd_);
  w->pidfd_ = -1;
  return nullptr;
}

void Worker::on_death(int code, int status) {
  // The worker's own crash record says most (a fatal signal with its frames,
  // the NIF's exit status); the kernel says how anything else ended it
  // (monitor_main), where it can.
  std::uint32_t state = crash_ ? __atomic_load_n(&crash_->state, __ATOMIC_ACQUIRE) : 0;
  if (crash_ != nullptr) std::memcpy(&last_crash_, crash_, sizeof last_crash_);
  const bool killed = code == CLD_KILLED || code == CLD_DUMPED;
  if (state == abi::kCrashSignal) {
    signal_ = last_crash_.signal;
    fault_address_ = last_crash_.fault_address;
    int n = std::snprintf(death_, sizeof death_, "signal %d (SIG%s)", signal_,
                          sigabbrev_np(signal_) ? sigabbrev_np(signal_) : "?");
    if (fault_address_ != 0 && n > 0)
      std::snprintf(death_ + n, sizeof death_ - n, " at address %#lx",
                    static_cast<unsigned long>(fault_address_));
  } else if (state == abi::kCrashExit) {
    exit_status_ = last_crash_.exit_status;
    std::snprintf(death_, sizeof death_, "exit status %d", exit_status_);
  } else if (code == CLD_EXITED) {
    exit_status_ = status;
    std::snprintf(death_, sizeof death_, "exit status %d", status);
  } else if (int k = protocol_error_.load(); k >= 0 && (!killed || status == SIGKILL)) {
    signal_ = SIGKILL;
    std::snprintf(death_, sizeof death_, "killed: it broke the channel protocol (message %d)", k);
  } else if (killed_on_demand_.load() && (!killed || status == SIGKILL)) {
    std::snprintf(death_, sizeof death_, "killed: restarted on demand (nifshim:restart/1)");
  } else if (long ms = deadline_killed_ms_.load(); ms > 0 && (!killed || status == SIGKILL)) {
    signal_ = SIGKILL;
    std::snprintf(death_, sizeof death_, "killed: a call ran past its deadline of %ld ms", ms);
  } else if (killed && status == SIGKILL) {
    signal_ = SIGKILL;
    const long oom = cgroup_oom_kills();
    std::snprintf(death_, sizeof death_, "%s",
                  oom > oom_kills_at_start_ && oom_kills_at_start_ >= 0
                      ? "signal 9 (SIGKILL) from the kernel's OOM killer (the cgroup's oom_kill count rose)"
                      : "signal 9 (SIGKILL), sender unknown");
  } else if (killed) {
    signal_ = status;
    std::snprintf(death_, sizeof death_, "signal %d (SIG%s)%s", status,
                  sigabbrev_np(status) ? sigabbrev_np(status) : "?", code == CLD_DUMPED ? ", core dumped" : "");
  } else {
    // Before Linux 6.15 an ignored SIGCHLD leaves no trace of a signal the
    // worker did not catch itself.
    std::snprintf(death_, sizeof death_, "killed by a signal the kernel does not name (SIGKILL or another)");
  }
  // NIFSHIM_CORE_DIR: the core the kernel wrote before the worker exited.
  if (state == abi::kCrashSignal && core_dir() != nullptr && dumps_core(signal_))
    collect_core(name_, pid_, core_, sizeof core_);
  // The call in flight, read before its caller is woken (it clears it).
  const char* inflight = "undefined";
  for (auto& f : inflight_)
    if (const char* n = f.load(std::memory_order_relaxed)) {
      inflight = n;
      break;
    }
  dead_.store(true, std::memory_order_seq_cst);
  {
    std::lock_guard<std::mutex> g(mu_);
    for (abi::Channel* c : channels_) {
      channel_abandon(c);
      // Nobody writes its data again: give the pages back (the first page,
      // with the turn word a late waiter may still read, stays).
      g_shim.active_mapper()->advise(reinterpret_cast<char*>(c) + 4096, sizeof(abi::Channel) - 4096,
                                     MADV_DONTNEED);
    }
  }
  if (!closing_) {
    report_death(inflight);
    log_error("worker for %s (pid %d) died: %s", name_, pid_, death_);
    if (state == abi::kCrashSignal)
      for (std::uint32_t i = 0; i < last_crash_.nframes && i < abi::kCrashFrames; ++i)
        log_error("  #%u %s", i, last_crash_.text[i]);
  }
  stop_selected();
}

// One logger report per death, from this (ERTS) thread: the same fields as
// the worker_crashed exception; `function` is a call that was in flight.
void Worker::report_death(const char* fname) {
  char signame[16] = "none";
  if (signal_ > 0) std::snprintf(signame, sizeof signame, "SIG%s", sigabbrev_np(signal_) ? sigabbrev_np(signal_) : "?");
  long frames = signal_ > 0 && last_crash_.state == abi::kCrashSignal ? long(last_crash_.nframes) : 0;
  ErlNifEnv* env = real().alloc_env();
  ERL_NIF_TERM report = make_info_map(
      env, {err_atom("what", "nifshim_worker_crash"), err_string("library", report_library_),
            err_atom("function", fname), err_int("pid", pid_), err_string("reason", death_),
            err_atom("signal", signame), err_int("fault_address", long(fault_address_)),
            err_int("exit_status", exit_status_),
            err_strings("backtrace", last_crash_.text[0], frames, sizeof last_crash_.text[0]),
            err_string("core", core_)});
  send_logger_report(nullptr, env, "error", report);
  real().free_env(env);
}

void* Worker::service_main(void* self) {
  auto* w = static_cast<Worker*>(self);
  TlsChannel* t = tls_add(w, w->serial_, w->service_, 0);
  abi::Channel* c = w->service_;
  while (channel_wait(c, abi::kSideVm, kSpinNs, 1000, worker_alive, w)) {
    if (c->msg.kind != abi::Msg::kEnif) {
      log_error("worker for %s: unexpected message %u on the service channel: killed", w->name_,
                static_cast<unsigned>(c->msg.kind));
      w->kill_for_protocol_error(static_cast<unsigned>(c->msg.kind));
      break;
    }
    t->top = 0;
    serve_enif(w, c, &t->top, nullptr);
    channel_post(c, abi::kSideWorker);
  }
  return nullptr;
}

}  // namespace nifshim
