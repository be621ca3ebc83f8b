// Restarting a dead worker: the restart policy, a fresh worker that loads the
// library again and runs load with the original load_info, and the resource
// types rebound to the new worker's callbacks. See nif_library.h.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "error_terms.h"
#include "log.h"
#include "nif_library.h"
#include "vm_exchange.h"
#include "worker_process.h"

namespace nifshim {
namespace {

// NIFSHIM_RESTARTS="N/T": at most N restarts within T seconds (default 5/10);
// "0" disables restarts.
// NIFSHIM_BACKOFF="MIN/MAX" (ms, default 1000/60000): past the limit the
// library fails fast for a backoff period, then the next call tries one fresh
// worker; each time the limit is hit again the period doubles, up to MAX; it
// starts again from MIN once no restart happened for T seconds. "off": past
// the limit the library is given up until nifshim:restart/1.
struct Policy {
  int max = 5;
  double seconds = 10;
  bool backoff = true;
  long backoff_min_ms = 1000, backoff_max_ms = 60000;
};

void parse_backoff(Policy* q) {
  const char* s = std::getenv("NIFSHIM_BACKOFF");
  if (s == nullptr || *s == 0) return;
  long lo = 0, hi = 0;
  if (std::strcmp(s, "off") == 0) {
    q->backoff = false;
  } else if (std::sscanf(s, "%ld/%ld", &lo, &hi) == 2 && lo > 0 && hi >= lo) {
    q->backoff_min_ms = lo;
    q->backoff_max_ms = hi;
  } else {
    log_error("NIFSHIM_BACKOFF=%s is not MIN/MAX (ms) or off; using 1000/60000", s);
  }
}

const Policy& policy() {
  static const Policy p = [] {
    Policy q;
    if (const char* s = std::getenv("NIFSHIM_RESTARTS"); s && *s) {
      int n = 0;
      double t = 0;
      if (std::sscanf(s, "%d/%lf", &n, &t) == 2 && n >= 0 && t > 0) {
        q.max = n;
        q.seconds = t;
      } else if (std::sscanf(s, "%d", &n) == 1 && n == 0) {
        q.max = 0;
      } else {
        log_error("NIFSHIM_RESTARTS=%s is not N/SECONDS; using 5/10", s);
      }
    }
    parse_backoff(&q);
    return q;
  }();
  return p;
}

double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// lib->worker is published once the new worker has loaded and run load
// (release), and read without the lock on every call (acquire).
Worker* current(NifLibrary* lib) { return __atomic_load_n(&lib->worker, __ATOMIC_ACQUIRE); }

}  // namespace

void restart_policy(int* max, double* seconds) {
  *max = policy().max;
  *seconds = policy().seconds;
}

void backoff_policy(long* min_ms, long* max_ms) {
  const Policy& p = policy();
  *min_ms = p.backoff ? p.backoff_min_ms : 0;
  *max_ms = p.backoff ? p.backoff_max_ms : 0;
}

long backoff_retry_in_ms(const NifLibrary* lib) {
  if (lib->gave_up) return -1;
  const double left = lib->backoff_until - now_s();
  return left > 0 ? static_cast<long>(left * 1000) + 1 : 0;
}

namespace {

// The restart limit is reached (restart_mu held): back off (or give up) and
// say so in *error.
ERL_NIF_TERM restart_limit(NifLibrary* lib, ErlNifEnv* env, const char* fname, Worker* dead, double now) {
  const Policy& p = policy();
  if (!lib->gave_up && lib->backoff_until <= now) {  // the limit is hit now (not a call during a backoff)
    if (!p.backoff) {
      lib->gave_up = true;
      log_error("%s: %d restarts within %.0f s: giving up (NIFSHIM_BACKOFF=off)", lib->path, p.max, p.seconds);
    } else {
      lib->backoff_ms = lib->backoff_ms == 0 ? p.backoff_min_ms : std::min(2 * lib->backoff_ms, p.backoff_max_ms);
      lib->backoff_until = now + lib->backoff_ms / 1000.0;
      log_error("%s: %d restarts within %.0f s: next try in %ld ms", lib->path, p.max, p.seconds, lib->backoff_ms);
    }
  }
  const long retry = backoff_retry_in_ms(lib);
  return raise_error(env, "restart_limit",
                     {err_string("library", lib->path), err_atom("function", fname), err_int("restarts", p.max),
                      err_int("seconds", long(p.seconds)), err_string("reason", dead->death()),
                      retry < 0 ? err_atom("retry_in_ms", "infinity") : err_int("retry_in_ms", retry),
                      err_int("backoff_ms", lib->gave_up ? 0 : lib->backoff_ms)});
}

}  // namespace

bool ensure_worker(NifLibrary* lib, ErlNifEnv* env, const char* fname, ERL_NIF_TERM* error) {
  if (current(lib)->alive()) return true;
  std::lock_guard<std::mutex> g(lib->restart_mu);
  if (current(lib)->alive()) return true;  // another caller restarted it
  Worker* dead = lib->worker;
  dead->reap();
  if (lib->counted_death != dead) {  // calls during a backoff meet the same dead worker
    lib->counted_death = dead;
    ++lib->crashes;
    if (dead->core()[0] != 0) std::snprintf(lib->last_core, sizeof lib->last_core, "%s", dead->core());
  }
  const Policy& p = policy();
  const double now = now_s();
  auto& times = lib->restart_times;
  while (!times.empty() && now - times.front() > p.seconds) times.erase(times.begin());
  if (times.empty()) lib->backoff_ms = 0;  // quiet for T seconds: the schedule starts again
  // A backoff that has run out lets one fresh worker try (even with the
  // window still full); if it dies within T seconds, the limit is hit again.
  const bool retry = lib->backoff_until != 0 && now >= lib->backoff_until;
  if (lib->gave_up || now < lib->backoff_until || (!retry && static_cast<int>(times.size()) >= p.max)) {
    *error = restart_limit(lib, env, fname, dead, now);
    return false;
  }
  lib->backoff_until = 0;
  times.push_back(now);

  // A new generation before the new worker exists: from now on the dead
  // worker's objects are refused (resource_owner_if_current) and its
  // continuations raise worker_restarted, and what load allocates is the
  // new worker's. Callers see the new worker only once load has run.
  lib->generation.fetch_add(1);
  lib->resources.store(0);  // the dead worker's objects are refused from now on
  {
    std::lock_guard<std::mutex> s(lib->mu);
    lib->scheduled.clear();  // the old worker's continuations stay bound to their generation
  }
  char err[1024] = "";
  abi::LoadBuffer* buf = nullptr;
  Worker* fresh = nullptr;
  bool loaded = start_and_load(lib, dead, &fresh, &buf, err, sizeof err);
  if (loaded && !same_library(lib, buf)) {
    std::snprintf(err, sizeof err, "nifshim: the library changed on disk since it was loaded");
    loaded = false;
  }
  free_load_buffer(buf);
  if (!loaded || fresh == nullptr) {
    if (fresh != nullptr) __atomic_store_n(&lib->worker, fresh, __ATOMIC_RELEASE);  // to report on
    *error = raise_error(env, "restart_failed",
                         {err_string("library", lib->path), err_atom("function", fname), err_string("reason", err)});
    return false;
  }
  if (lib->entry.load != nullptr) {
    // load runs again, in the caller's env: resource types are rebound, not created.
    std::uint64_t in[3] = {reinterpret_cast<std::uint64_t>(env), 0, lib->load_info};
    std::uint64_t out[3] = {};
    lib->restarting = true;
    bool ran = call_load(fresh, abi::LoadKind::kLoad, in, 3, out);
    lib->restarting = false;
    if (!ran || out[0] != 0) {
      __atomic_store_n(&lib->worker, fresh, __ATOMIC_RELEASE);
      *error = raise_error(env, "restart_failed",
                           {err_string("library", lib->path), err_atom("function", fname),
                            err_string("reason", ran ? "load returned an error" : fresh->death())});
      return false;
    }
    lib->priv = reinterpret_cast<void*>(out[1]);
  } else {
    lib->priv = nullptr;
  }
  lib->priv_overridden = true;
  ++lib->restarts;
  __atomic_store_n(&lib->worker, fresh, __ATOMIC_RELEASE);
  log_error("worker for %s restarted (pid %d, restart %u)", lib->name, fresh->pid(), lib->restarts);
  return true;
}

}  // namespace nifshim
