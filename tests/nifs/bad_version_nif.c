/* bad_version: a NIF library whose entry claims NIF version 2.99, newer
 * than any OTP 25 VM; erlang:load_nif/2 must refuse it. The entry is
 * written by hand instead of with ERL_NIF_INIT. */
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
        2, 99, "bad_version", sizeof funcs / sizeof funcs[0], funcs,
        NULL, NULL, NULL, NULL, ERL_NIF_VM_VARIANT, 1, sizeof(ErlNifResourceTypeInit),
        ERL_NIF_MIN_ERTS_VERSION};
    return &entry;
}
