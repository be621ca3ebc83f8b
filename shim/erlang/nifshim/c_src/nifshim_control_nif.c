/* nifshim_control: the NIF behind the nifshim Erlang module. The shim loads
 * it natively (never isolated): it finds the shim's control functions in the
 * VM's global scope, and says so when the VM runs without the shim. */
#include <dlfcn.h>
#include <erl_nif.h>

typedef ERL_NIF_TERM (*control_fn)(ErlNifEnv*, int, const ERL_NIF_TERM[]);

static ERL_NIF_TERM not_active(ErlNifEnv* env) {
    return enif_make_tuple2(env, enif_make_atom(env, "nifshim_error"),
                            enif_make_string(env,
                                "the VM runs without libnifshim.so (start it with: nifshim run -- erl; "
                                "in rebuilt mode, no rebuilt NIF library is loaded yet)",
                                ERL_NIF_LATIN1));
}

/* Preloaded, the shim is in the global scope. Rebuilt mode (no preload), it
 * came as a dependency of a rebuilt NIF library, in that library's local
 * scope: found by its name among the loaded objects (never loaded here). */
static ERL_NIF_TERM forward(const char* sym, ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    control_fn f = (control_fn)dlsym(RTLD_DEFAULT, sym);
    if (!f) {
        void* shim = dlopen("libnifshim.so", RTLD_NOW | RTLD_NOLOAD);
        if (shim) {
            f = (control_fn)dlsym(shim, sym);
            dlclose(shim);  /* drops the reference NOLOAD took; the library stays */
        }
    }
    return f ? f(env, argc, argv) : not_active(env);
}

static ERL_NIF_TERM workers(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    return forward("nifshim_control_workers", env, argc, argv);
}
static ERL_NIF_TERM restart(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    return forward("nifshim_control_restart", env, argc, argv);
}
static ERL_NIF_TERM policy(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    return forward("nifshim_control_policy", env, argc, argv);
}
static ERL_NIF_TERM memory(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    return forward("nifshim_control_memory", env, argc, argv);
}
static ERL_NIF_TERM active(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ERL_NIF_TERM r = forward("nifshim_control_policy", env, argc, argv);
    return enif_make_atom(env, enif_is_map(env, r) ? "true" : "false");
}

static ErlNifFunc funcs[] = {
    {"control_workers", 0, workers, 0},
    {"control_restart", 1, restart, 0},
    {"control_policy", 0, policy, 0},
    {"control_memory", 0, memory, 0},
    {"control_active", 0, active, 0},
};

ERL_NIF_INIT(nifshim, funcs, NULL, NULL, NULL, NULL)
