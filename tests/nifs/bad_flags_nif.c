/* bad_flags: a function with an invalid flags value (42). */
#include <erl_nif.h>

static ERL_NIF_TERM f(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    (void)argc; (void)argv;
    return enif_make_atom(env, "loaded");
}

static ErlNifFunc funcs[] = {{"f", 0, f, 42}};

ERL_NIF_INIT(bad_flags, funcs, NULL, NULL, NULL, NULL)
