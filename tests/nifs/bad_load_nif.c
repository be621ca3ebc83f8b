/* bad_load: the load callback fails with 7 (after checking load_info). */
#include <erl_nif.h>

static ERL_NIF_TERM f(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    (void)argc; (void)argv;
    return enif_make_atom(env, "loaded");
}

static int load(ErlNifEnv* env, void** priv, ERL_NIF_TERM info) {
    int i;
    (void)priv;
    return enif_get_int(env, info, &i) ? 7 : 8;
}

static ErlNifFunc funcs[] = {{"f", 0, f, 0}};

ERL_NIF_INIT(bad_load, funcs, load, NULL, NULL, NULL)
