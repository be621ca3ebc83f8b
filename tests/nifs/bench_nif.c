/* bench: NIFs for the call-path benchmarks (scripts/bench): trivial calls,
 * enif-heavy ones, and big binaries passed in and out. */
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

/* The sum of a list of integers: two enif calls per element. */
static ERL_NIF_TERM sum_list(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ERL_NIF_TERM head, tail = argv[0];
    long sum = 0, v;
    (void)argc;
    while (enif_get_list_cell(env, tail, &head, &tail)) {
        if (!enif_get_long(env, head, &v)) return enif_make_badarg(env);
        sum += v;
    }
    if (!enif_is_empty_list(env, tail)) return enif_make_badarg(env);
    return enif_make_long(env, sum);
}

/* A binary in: {Size, FirstByte}, read through the VM's own pointer. */
static ERL_NIF_TERM bin_info(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifBinary b;
    (void)argc;
    if (!enif_inspect_binary(env, argv[0], &b)) return enif_make_badarg(env);
    return enif_make_tuple2(env, enif_make_uint64(env, b.size),
                            enif_make_int(env, b.size ? b.data[0] : -1));
}

/* A binary in and out: the whole of it back, as a sub-binary (no copy). */
static ERL_NIF_TERM bin_sub(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifBinary b;
    (void)argc;
    if (!enif_inspect_binary(env, argv[0], &b)) return enif_make_badarg(env);
    return enif_make_sub_binary(env, argv[0], 0, b.size);
}

/* Reads all of a binary in one call: the sum of its bytes (big data, where
 * the call's own cost is nothing against the work). */
static ERL_NIF_TERM bin_sum(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifBinary b;
    unsigned long sum = 0;
    size_t i;
    (void)argc;
    if (!enif_inspect_binary(env, argv[0], &b)) return enif_make_badarg(env);
    for (i = 0; i < b.size; ++i) sum += b.data[i];
    return enif_make_ulong(env, sum);
}

/* A new binary of N bytes, every byte written by the NIF. */
static ERL_NIF_TERM bin_make(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifBinary b;
    unsigned long n;
    (void)argc;
    if (!enif_get_ulong(env, argv[0], &n) || !enif_alloc_binary(n, &b)) return enif_make_badarg(env);
    memset(b.data, 0x5a, b.size);
    return enif_make_binary(env, &b);
}

static ErlNifFunc funcs[] = {
    {"noop", 1, noop, 0},
    {"add", 2, add, 0},
    {"build_list", 1, build_list, 0},
    {"bin_copy", 1, bin_copy, 0},
    {"sum_list", 1, sum_list, 0},
    {"bin_info", 1, bin_info, 0},
    {"bin_sub", 1, bin_sub, 0},
    {"bin_sum", 1, bin_sum, ERL_NIF_DIRTY_JOB_CPU_BOUND},
    {"bin_make", 1, bin_make, ERL_NIF_DIRTY_JOB_CPU_BOUND},
};

ERL_NIF_INIT(bench_nif, funcs, NULL, NULL, NULL, NULL)
