/* crash: a test NIF that dies in every way a NIF can, to check that only its
 * worker dies and the caller gets the right exception. */
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
    return enif_make_badarg(env);
}

static ErlNifFunc funcs[] = {
    {"crash", 1, crash, 0},
    {"crash_dirty", 1, crash, ERL_NIF_DIRTY_JOB_CPU_BOUND},
};

ERL_NIF_INIT(crash_nif, funcs, NULL, NULL, NULL, NULL)
