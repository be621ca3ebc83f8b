/* bad_name: the entry names module bad_name_other; loading it from module
 * bad_name must fail, loading it from bad_name_other works (and a second
 * load, or an upgrade, must fail: no upgrade callback). */
#include <erl_nif.h>

static ERL_NIF_TERM f(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    (void)argc; (void)argv;
    return enif_make_atom(env, "loaded");
}

static ErlNifFunc funcs[] = {{"f", 0, f, 0}};

ERL_NIF_INIT(bad_name_other, funcs, NULL, NULL, NULL, NULL)
