/* window_probe: a test NIF that reports the address of every kind of memory
 * a NIF can be handed, so the tests can check that all of it lies in the
 * shared window (and that another process mapping the window sees it). */
#include <erl_nif.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static ErlNifResourceType* probe_res;

static ERL_NIF_TERM addr_term(ErlNifEnv* env, const void* p) {
    return enif_make_uint64(env, (ErlNifUInt64)(uintptr_t)p);
}

/* The memory behind a term: binary bytes, tuple elements, the list cell, or
 * the boxed object (maps, bignums, floats, funs...). */
static ERL_NIF_TERM addr(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifBinary bin;
    const ERL_NIF_TERM* elems;
    int arity;
    (void)argc;
    if (enif_is_binary(env, argv[0]) && enif_inspect_binary(env, argv[0], &bin))
        return addr_term(env, bin.data);
    if (enif_get_tuple(env, argv[0], &arity, &elems) && arity > 0)
        return addr_term(env, elems);
    if ((argv[0] & 3) == 1 || (argv[0] & 3) == 2) /* list cell or boxed */
        return addr_term(env, (const void*)(uintptr_t)(argv[0] & ~(ERL_NIF_TERM)3));
    return enif_make_badarg(env);
}

/* {AddressOfElementArray, [RawWordOfEachElement]} */
static ERL_NIF_TERM tuple_words(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    const ERL_NIF_TERM* elems;
    int arity, i;
    ERL_NIF_TERM list = enif_make_list(env, 0);
    (void)argc;
    if (!enif_get_tuple(env, argv[0], &arity, &elems)) return enif_make_badarg(env);
    for (i = arity - 1; i >= 0; --i)
        list = enif_make_list_cell(env, enif_make_uint64(env, (ErlNifUInt64)elems[i]), list);
    return enif_make_tuple2(env, addr_term(env, elems), list);
}

static ERL_NIF_TERM resource(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    void* obj = enif_alloc_resource(probe_res, 256);
    ERL_NIF_TERM t;
    (void)argc; (void)argv;
    memset(obj, 0x5a, 256);
    t = enif_make_resource(env, obj);
    enif_release_resource(obj);
    return enif_make_tuple2(env, t, addr_term(env, obj));
}

static ERL_NIF_TERM alloc_binary(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    unsigned long size;
    ErlNifBinary bin;
    ERL_NIF_TERM a;
    (void)argc;
    if (!enif_get_ulong(env, argv[0], &size) || !enif_alloc_binary(size, &bin))
        return enif_make_badarg(env);
    a = addr_term(env, bin.data);
    enif_release_binary(&bin);
    return a;
}

static ERL_NIF_TERM make_new_binary(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    unsigned long size;
    ERL_NIF_TERM bin;
    unsigned char* data;
    (void)argc;
    if (!enif_get_ulong(env, argv[0], &size)) return enif_make_badarg(env);
    data = enif_make_new_binary(env, size, &bin);
    memset(data, 0x11, size);
    return enif_make_tuple2(env, bin, addr_term(env, data));
}

static ERL_NIF_TERM alloc(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    unsigned long size;
    void* p;
    ERL_NIF_TERM a;
    (void)argc;
    if (!enif_get_ulong(env, argv[0], &size) || !(p = enif_alloc(size)))
        return enif_make_badarg(env);
    a = addr_term(env, p);
    enif_free(p);
    return a;
}

/* Terms built in a process-independent env: a tuple, a list cell, a binary. */
static ERL_NIF_TERM alloc_env_terms(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifEnv* penv = enif_alloc_env();
    ERL_NIF_TERM tuple, list, bin;
    const ERL_NIF_TERM* elems;
    int arity;
    unsigned char* data;
    ErlNifBinary ib;
    ERL_NIF_TERM out;
    (void)argc; (void)argv;
    tuple = enif_make_tuple3(penv, enif_make_int(penv, 1), enif_make_atom(penv, "two"),
                             enif_make_double(penv, 3.0));
    list = enif_make_list2(penv, tuple, tuple);
    data = enif_make_new_binary(penv, 200, &bin);
    memset(data, 7, 200);
    enif_get_tuple(penv, tuple, &arity, &elems);
    enif_inspect_binary(penv, bin, &ib);
    out = enif_make_list3(env, addr_term(env, elems),
                          addr_term(env, (void*)(uintptr_t)(list & ~(ERL_NIF_TERM)3)),
                          addr_term(env, ib.data));
    enif_free_env(penv);
    return out;
}

static ERL_NIF_TERM iolist_as_binary(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifBinary bin;
    (void)argc;
    if (!enif_inspect_iolist_as_binary(env, argv[0], &bin)) return enif_make_badarg(env);
    return addr_term(env, bin.data);
}

/* The directory relative paths resolve against, as the NIF sees it. */
static ERL_NIF_TERM cwd(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    char buf[4096];
    (void)argc; (void)argv;
    if (getcwd(buf, sizeof buf) == NULL) return enif_make_badarg(env);
    return enif_make_string(env, buf, ERL_NIF_LATIN1);
}

static int load(ErlNifEnv* env, void** priv, ERL_NIF_TERM info) {
    (void)priv; (void)info;
    probe_res = enif_open_resource_type(env, NULL, "probe", NULL, ERL_NIF_RT_CREATE, NULL);
    return probe_res == NULL;
}

static ErlNifFunc funcs[] = {
    {"addr", 1, addr, 0},
    {"tuple_words", 1, tuple_words, 0},
    {"resource", 0, resource, 0},
    {"alloc_binary", 1, alloc_binary, 0},
    {"make_new_binary", 1, make_new_binary, 0},
    {"alloc", 1, alloc, 0},
    {"alloc_env_terms", 0, alloc_env_terms, 0},
    {"iolist_as_binary", 1, iolist_as_binary, 0},
    {"cwd", 0, cwd, 0},
};

ERL_NIF_INIT(window_probe, funcs, load, NULL, NULL, NULL)
