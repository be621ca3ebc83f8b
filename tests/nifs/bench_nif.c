/* bench: trivial NIFs for the call-path benchmarks (scripts/bench). */
#include <erl_nif.h>
#include <string.h>

static ERL_NIF_TERM noop(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    (void)env; (void)argc;
    return argv[0];
}

static ERL_NIF_TERM add(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    long a, b;
    (void)argc;
    if (!enif_get_long(env, argv[0], &a) || !enif_get_long(env, argv[1], &b))
        return enif_make_badarg(env);
    return enif_make_long(env, a + b);
}

/* A 1000-element list of {I, I*I} tuples: enif-heavy. */
static ERL_NIF_TERM build_list(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ERL_NIF_TERM list = enif_make_list(env, 0);
    int n, i;
    (void)argc;
    if (!enif_get_int(env, argv[0], &n)) return enif_make_badarg(env);
    for (i = n; i > 0; --i)
        list = enif_make_list_cell(env, enif_make_tuple2(env, enif_make_int(env, i),
                                                         enif_make_long(env, (long)i * i)), list);
    return list;
}

/* A binary in and out: its bytes read, a new binary of the same size made
 * and filled (the 1 MB rebuilt-mode figure). */
static ERL_NIF_TERM bin_copy(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifBinary in;
    ERL_NIF_TERM out;
    unsigned char* p;
    (void)argc;
    if (!enif_inspect_binary(env, argv[0], &in)) return enif_make_badarg(env);
    p = enif_make_new_binary(env, in.size, &out);
    memcpy(p, in.data, in.size);
    return out;
}

static ErlNifFunc funcs[] = {
    {"noop", 1, noop, 0},
    {"add", 2, add, 0},
    {"build_list", 1, build_list, 0},
    {"bin_copy", 1, bin_copy, 0},
};

ERL_NIF_INIT(bench_nif, funcs, NULL, NULL, NULL, NULL)
