/* bad_funcs: lists g/0, which module bad_funcs does not have. */
#include <erl_nif.h>

static ERL_NIF_TERM g(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    (void)argc; (void)argv;
    return enif_make_atom(env, "loaded");
}

static ErlNifFunc funcs[] = {{"g", 0, g, 0}};

ERL_NIF_INIT(bad_funcs, funcs, NULL, NULL, NULL, NULL)
