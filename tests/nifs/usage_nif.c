/* Uses memory and CPU on request, for the accounting test
 * (tests/erlang/usage_tests.erl): enif_alloc'ed blocks (the shared arena),
 * malloc'ed pages (the worker's private memory), resource objects of a type
 * without a destructor, and CPU time. */
#include <erl_nif.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_BLOCKS 1024
static void* held[MAX_BLOCKS];   /* enif_alloc */
static void* touched[MAX_BLOCKS]; /* malloc */
static int nheld, ntouched;
static ErlNifMutex* mu;
static ErlNifResourceType* plain_type;

static int load(ErlNifEnv* env, void** priv, ERL_NIF_TERM info) {
  (void)priv; (void)info;
  mu = enif_mutex_create("usage_nif");
  plain_type = enif_open_resource_type(env, NULL, "plain", NULL, ERL_NIF_RT_CREATE, NULL);
  return mu && plain_type ? 0 : 1;
}

static ERL_NIF_TERM keep(ErlNifEnv* env, void** list, int* n, void* p, size_t size) {
  if (!p) return enif_make_atom(env, "enomem");
  memset(p, 0x5a, size);
  enif_mutex_lock(mu);
  int ok = *n < MAX_BLOCKS;
  if (ok) list[(*n)++] = p;
  enif_mutex_unlock(mu);
  return ok ? enif_make_atom(env, "ok") : enif_make_badarg(env);
}

/* hold(Bytes): one enif_alloc block, kept. */
static ERL_NIF_TERM hold(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  unsigned long size;
  (void)argc;
  if (!enif_get_ulong(env, argv[0], &size)) return enif_make_badarg(env);
  void* p = enif_alloc(size);
  ERL_NIF_TERM r = keep(env, held, &nheld, p, size);
  if (p && !enif_is_atom(env, r)) enif_free(p);
  return r;
}

/* touch(Bytes): malloc'ed memory, written, kept. */
static ERL_NIF_TERM touch(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  unsigned long size;
  (void)argc;
  if (!enif_get_ulong(env, argv[0], &size)) return enif_make_badarg(env);
  void* p = malloc(size);
  ERL_NIF_TERM r = keep(env, touched, &ntouched, p, size);
  if (p && !enif_is_atom(env, r)) free(p);
  return r;
}

/* drop(): frees all held and touched blocks. */
static ERL_NIF_TERM drop(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  (void)argc; (void)argv;
  enif_mutex_lock(mu);
  for (int i = 0; i < nheld; ++i) enif_free(held[i]);
  for (int i = 0; i < ntouched; ++i) free(touched[i]);
  nheld = ntouched = 0;
  enif_mutex_unlock(mu);
  return enif_make_atom(env, "ok");
}

/* resources(N): a list of N fresh resource terms (no destructor). */
static ERL_NIF_TERM resources(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  unsigned n;
  (void)argc;
  if (!enif_get_uint(env, argv[0], &n)) return enif_make_badarg(env);
  ERL_NIF_TERM list = enif_make_list(env, 0);
  for (unsigned i = 0; i < n; ++i) {
    void* r = enif_alloc_resource(plain_type, 64);
    if (!r) return enif_make_badarg(env);
    list = enif_make_list_cell(env, enif_make_resource(env, r), list);
    enif_release_resource(r);
  }
  return list;
}

/* spin(Ms): uses Ms milliseconds of this thread's CPU time. */
static ERL_NIF_TERM spin(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
  unsigned long ms;
  struct timespec a, b;
  volatile unsigned long x = 0;
  (void)argc;
  if (!enif_get_ulong(env, argv[0], &ms)) return enif_make_badarg(env);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
  do {
    for (int i = 0; i < 100000; ++i) x += (unsigned long)i;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
  } while ((unsigned long)((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000) < ms);
  return enif_make_atom(env, "ok");
}

static ErlNifFunc funcs[] = {
  {"hold", 1, hold, 0},
  {"touch", 1, touch, 0},
  {"drop", 0, drop, 0},
  {"resources", 1, resources, 0},
  {"spin", 1, spin, ERL_NIF_DIRTY_JOB_CPU_BOUND},
};

ERL_NIF_INIT(usage_nif, funcs, load, NULL, NULL, NULL)
