/* crash: a test NIF that dies in every way a NIF can, to check that only its
 * worker dies and the caller gets the right exception. */
#include <dlfcn.h>
#include <erl_nif.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile int zero = 0;

/* Deliberately unbounded: the stack overflow is the test. */
static int recurse(int n) {
    volatile char pad[4096];
    pad[0] = (char)n;
    if (n == -1) return 0;  /* never: keeps the compiler from calling it infinite */
    return recurse(n + 1) + pad[0];
}

static ErlNifResourceType* bomb_type; /* its destructor crashes the worker */

static void bomb_dtor(ErlNifEnv* env, void* obj) {
    (void)env; (void)obj;
    *(volatile int*)(long)24 = 1;
}

static void* thread_crash(void* arg) {
    (void)arg;
    usleep(20000);
    *(volatile int*)(long)32 = 1;
    return NULL;
}

static int load(ErlNifEnv* env, void** priv, ERL_NIF_TERM info) {
    (void)priv; (void)info;
    bomb_type = enif_open_resource_type(env, NULL, "bomb", bomb_dtor, ERL_NIF_RT_CREATE, NULL);
    return bomb_type == NULL;
}

static ERL_NIF_TERM crash(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    char how[32];
    (void)argc;
    if (!enif_get_atom(env, argv[0], how, sizeof how, ERL_NIF_LATIN1)) return enif_make_badarg(env);
    if (!strcmp(how, "segv")) { *(volatile int*)(long)16 = 1; }
    else if (!strcmp(how, "abort")) { abort(); }
    else if (!strcmp(how, "fpe")) { return enif_make_int(env, 7 / zero); }
    else if (!strcmp(how, "ill")) { __builtin_trap(); }
    else if (!strcmp(how, "bus")) { raise(SIGBUS); }
    else if (!strcmp(how, "stack")) { return enif_make_int(env, recurse(0)); }
    else if (!strcmp(how, "exit")) { exit(3); }
    else if (!strcmp(how, "_exit")) { _exit(4); }
    else if (!strcmp(how, "none")) { return enif_make_atom(env, "alive"); }
    else if (!strcmp(how, "hang")) { sleep(30); return enif_make_atom(env, "woke"); }
    else if (!strcmp(how, "dlsym")) {  /* as Rustler does: enif_* from the process's global scope */
        void* self = dlopen(NULL, RTLD_NOW | RTLD_NOLOAD);
        ERL_NIF_TERM (*make_atom)(ErlNifEnv*, const char*) =
            (ERL_NIF_TERM (*)(ErlNifEnv*, const char*))dlsym(self, "enif_make_atom");
        char* (*errno_id)(int) = (char* (*)(int))dlsym(self, "erl_errno_id");
        if (!make_atom || !errno_id) return enif_make_badarg(env);
        return enif_make_tuple2(env, make_atom(env, "found_by_dlsym"), make_atom(env, errno_id(2)));
    }
    else if (!strcmp(how, "spin")) { for (volatile unsigned long i = 0;; ++i) {} }
    else if (!strcmp(how, "oom")) {  /* grows until malloc fails, then aborts, as most code does */
        for (;;) { char* p = malloc(1 << 20); if (!p) abort(); memset(p, 1, 1 << 20); }
    }
    else if (!strcmp(how, "bomb")) {  /* a resource whose destructor crashes, run later by GC */
        void* obj = enif_alloc_resource(bomb_type, 8);
        ERL_NIF_TERM t = enif_make_resource(env, obj);
        enif_release_resource(obj);
        return t;
    }
    else if (!strcmp(how, "thread")) {  /* a thread of the NIF's that crashes after the call */
        ErlNifTid tid;
        if (enif_thread_create("crasher", &tid, thread_crash, NULL, NULL) != 0) return enif_make_badarg(env);
        return enif_make_atom(env, "started");
    }
    return enif_make_badarg(env);
}

static ErlNifFunc funcs[] = {
    {"crash", 1, crash, 0},
    {"crash_dirty", 1, crash, ERL_NIF_DIRTY_JOB_CPU_BOUND},
};

ERL_NIF_INIT(crash_nif, funcs, load, NULL, NULL, NULL)
