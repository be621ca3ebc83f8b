/* bad_variant: an entry built for another VM variant ("beam.other"). */
#include <erl_nif.h>

#ifndef ERL_NIF_INIT_EXPORT  /* gone from OTP 29's erl_nif.h */
#define ERL_NIF_INIT_EXPORT __attribute__((visibility("default")))
#endif

static ERL_NIF_TERM f(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    (void)argc; (void)argv;
    return enif_make_atom(env, "loaded");
}

static ErlNifFunc funcs[] = {{"f", 0, f, 0}};

ERL_NIF_INIT_EXPORT ErlNifEntry* nif_init(void);
ERL_NIF_INIT_EXPORT ErlNifEntry* nif_init(void) {
    static ErlNifEntry entry = {
        ERL_NIF_MAJOR_VERSION, ERL_NIF_MINOR_VERSION, "bad_variant", sizeof funcs / sizeof funcs[0], funcs,
        NULL, NULL, NULL, NULL, "beam.other", 1, sizeof(ErlNifResourceTypeInit), ERL_NIF_MIN_ERTS_VERSION};
    return &entry;
}
