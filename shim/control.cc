// What the nifshim Erlang module asks of the shim (through its control NIF,
// shim/erlang/nifshim/c_src): the workers, a restart on demand, the policy.
// Each takes a process env and returns a term; the control NIF finds them
// with dlsym, so a VM without the shim gets a clear error instead.
#include <erl_nif.h>

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <unistd.h>

#include "export.h"
#include "nif_library.h"
#include "real_enif.h"
#include "shim_state.h"
#include "worker_process.h"
#include "worker_usage.h"

namespace nifshim {
namespace {

ERL_NIF_TERM not_active(ErlNifEnv* env) {
  const RealEnif& e = real();
  ERL_NIF_TERM t[2] = {e.make_atom(env, "nifshim_error"),
                       e.make_string(env, "the shim is loaded but inert here (NIFSHIM_DISABLE, or no window)",
                                     ERL_NIF_LATIN1)};
  return e.make_tuple_from_array(env, t, 2);
}

struct MapBuilder {
  ErlNifEnv* env;
  ERL_NIF_TERM map;
  explicit MapBuilder(ErlNifEnv* e) : env(e), map(real().make_new_map(e)) {}
  MapBuilder& put(const char* k, ERL_NIF_TERM v) {
    real().make_map_put(env, map, real().make_atom(env, k), v, &map);
    return *this;
  }
  MapBuilder& str(const char* k, const char* v) { return put(k, real().make_string(env, v ? v : "", ERL_NIF_LATIN1)); }
  MapBuilder& num(const char* k, long v) { return put(k, real().make_long(env, v)); }
  MapBuilder& atom(const char* k, const char* v) { return put(k, real().make_atom(env, v)); }
};

struct ListAcc {
  ErlNifEnv* env;
  ERL_NIF_TERM items[1024];
  unsigned n = 0;
};

std::uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::uint64_t(ts.tv_sec) * 1000000000u + std::uint64_t(ts.tv_nsec);
}

void add_worker(NifLibrary* lib, void* arg) {
  auto* acc = static_cast<ListAcc*>(arg);
  if (acc->n == 1024) return;
  Worker* w = lib->worker;
  WorkerUsage u;
  if (w->alive()) read_worker_usage(w->pid(), &u);
  const abi::WorkerStats* st = w->stats();
  const CallLatency::Summary lat = lib->latency.summary(now_ns());
  const long retry = backoff_retry_in_ms(lib);
  const char* state = lib->gave_up ? "gave_up" : w->alive() ? "running" : retry > 0 ? "backoff" : "dead";
  acc->items[acc->n++] = MapBuilder(acc->env)
                             .str("library", lib->path)
                             .str("name", lib->name)
                             .num("pid", w->pid())
                             .atom("state", state)
                             .num("calls", long(lib->calls.load()))
                             .num("crashes", lib->crashes + (w->alive() || lib->counted_death == w ? 0 : 1))
                             .num("restarts", lib->restarts)
                             .num("uptime_ms", w->alive() ? w->uptime_ms() : 0)
                             .num("retry_in_ms", retry > 0 ? retry : 0)
                             .num("backoff_ms", lib->backoff_ms)
                             .num("rss_bytes", u.rss_bytes)
                             .num("private_bytes", u.private_bytes)
                             .num("cpu_ms", u.cpu_ms)
                             .num("arena_bytes", st ? long(st->arena_bytes.load(std::memory_order_relaxed)) : 0)
                             .num("resources", w->alive() ? long(lib->resources.load(std::memory_order_relaxed)) : 0)
                             .num("latency_samples", long(lat.samples))
                             .num("latency_p50_ns", long(lat.p50_ns))
                             .num("latency_p99_ns", long(lat.p99_ns))
                             .str("core", w->alive() || w->core()[0] == 0 ? lib->last_core : w->core())
                             .map;
}

struct Find {
  const char* name;
  NifLibrary* found = nullptr;
};

void find_library(NifLibrary* lib, void* arg) {
  auto* f = static_cast<Find*>(arg);
  if (std::strcmp(lib->name, f->name) == 0 || std::strcmp(lib->path, f->name) == 0) f->found = lib;
}

const char* env_or(const char* name, const char* dflt) {
  const char* v = std::getenv(name);
  return v && *v ? v : dflt;
}

}  // namespace
}  // namespace nifshim

using namespace nifshim;

extern "C" NIFSHIM_EXPORT ERL_NIF_TERM nifshim_control_workers(ErlNifEnv* env, int, const ERL_NIF_TERM[]) {
  if (g_shim.active_mapper() == nullptr || !real_enif_init()) return not_active(env);
  ListAcc acc{env, {}, 0};
  for_each_library(add_worker, &acc);
  return real().make_list_from_array(env, acc.items, acc.n);
}

extern "C" NIFSHIM_EXPORT ERL_NIF_TERM nifshim_control_restart(ErlNifEnv* env, int, const ERL_NIF_TERM argv[]) {
  if (g_shim.active_mapper() == nullptr || !real_enif_init()) return not_active(env);
  char name[4096];
  if (real().get_string(env, argv[0], name, sizeof name, ERL_NIF_LATIN1) <= 0) return real().make_badarg(env);
  Find f{name};
  for_each_library(find_library, &f);
  if (f.found == nullptr) {
    ERL_NIF_TERM t[2] = {real().make_atom(env, "error"), real().make_atom(env, "not_found")};
    return real().make_tuple_from_array(env, t, 2);
  }
  {
    std::lock_guard<std::mutex> g(f.found->restart_mu);
    f.found->gave_up = false;  // a restart on demand lifts restart_limit and its backoff
    f.found->backoff_until = 0;
    f.found->backoff_ms = 0;
    f.found->restart_times.clear();
  }
  // The next call must find the worker dead (and start a fresh one), not
  // meet it while SIGKILL lands: wait for the death (milliseconds; bounded).
  Worker* w = f.found->worker;
  if (w->alive()) {
    w->kill_on_demand();
    for (int i = 0; i < 2000 && w->alive(); ++i) usleep(1000);
  }
  return real().make_atom(env, "ok");
}

extern "C" NIFSHIM_EXPORT ERL_NIF_TERM nifshim_control_policy(ErlNifEnv* env, int, const ERL_NIF_TERM[]) {
  if (g_shim.active_mapper() == nullptr || !real_enif_init()) return not_active(env);
  int max;
  double seconds;
  restart_policy(&max, &seconds);
  const Window& w = g_shim.active_mapper()->window();
  ERL_NIF_TERM restarts[2] = {real().make_long(env, max), real().make_long(env, long(seconds))};
  long bmin, bmax;
  backoff_policy(&bmin, &bmax);
  ERL_NIF_TERM backoff[2] = {real().make_long(env, bmin), real().make_long(env, bmax)};
  return MapBuilder(env)
      .str("isolate", env_or("NIFSHIM_ISOLATE", "*"))
      .str("no_isolate", env_or("NIFSHIM_NO_ISOLATE", ""))
      .put("restarts", real().make_tuple_from_array(env, restarts, 2))
      .put("backoff", bmax == 0 ? real().make_atom(env, "off") : real().make_tuple_from_array(env, backoff, 2))
      .str("deadline", env_or("NIFSHIM_DEADLINE", "none"))
      .str("dirty_deadline", env_or("NIFSHIM_DIRTY_DEADLINE", "none"))
      .str("worker_memory", env_or("NIFSHIM_WORKER_MEMORY", "unlimited"))
      .str("worker_cpu", env_or("NIFSHIM_WORKER_CPU", "unlimited"))
      .str("worker_arena", env_or("NIFSHIM_WORKER_ARENA", "4G"))
      .num("window_base", long(w.base))
      .num("window_size", long(w.size))
      .map;
}

extern "C" NIFSHIM_EXPORT ERL_NIF_TERM nifshim_control_memory(ErlNifEnv* env, int, const ERL_NIF_TERM[]) {
  WindowMapper* m = g_shim.active_mapper();
  if (m == nullptr || !real_enif_init()) return not_active(env);
  // What is kept and in free ranges first, then the memfd's pages: the
  // releaser may punch in between, and a reader that sees nothing kept must
  // not get a count of pages from before the punch.
  WindowMapper::Stats s = m->stats();
  const long kept = long(m->kept_bytes());
  const long free_resident = long(m->free_resident_bytes());
  const long resident = long(m->resident_bytes());
  return MapBuilder(env)
      .num("resident", resident)
      .num("kept", kept)
      .num("free_resident", free_resident)
      .num("keep_max", long(m->keep_max()))
      .num("keep_ms", long(m->keep_max_age_ns() / 1000000))
      .num("freed", long(s.freed_bytes))
      .num("reused", long(s.reused_bytes))
      .num("punched", long(s.punched_bytes))
      .num("window_free", long(m->free_bytes()))
      .map;
}
