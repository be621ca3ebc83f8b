/* api_upgrade: the load / upgrade / unload callbacks, priv_data across an
 * upgrade, load_info, and a resource type taken over by the new instance. */
#include <erl_nif.h>
#include <string.h>

typedef struct {
    int gen;
    int load_info;
    ErlNifResourceType* type;
    ErlNifResourceFlags tried;
} priv_t;

typedef struct {
    int gen;
    long value;
} obj_t;

/* Code loading is serialised by the VM: plain counters are enough. */
static int loads, upgrades, unloads, last_unloaded_gen;
static long dtor_calls, dtor_value_sum;

static void dtor(ErlNifEnv* env, void* obj) {
    (void)env;
    __atomic_add_fetch(&dtor_calls, 1, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&dtor_value_sum, ((obj_t*)obj)->value, __ATOMIC_SEQ_CST);
}

static priv_t* make_priv(ErlNifEnv* env, int gen, ERL_NIF_TERM info, ErlNifResourceFlags flags) {
    priv_t* p = enif_alloc(sizeof *p);
    if (!p) return NULL;
    memset(p, 0, sizeof *p);
    p->gen = gen;
    if (!enif_get_int(env, info, &p->load_info)) p->load_info = -1;
    p->type = enif_open_resource_type(env, NULL, "api_up", dtor, flags, &p->tried);
    if (!p->type) {
        enif_free(p);
        return NULL;
    }
    return p;
}

static int load(ErlNifEnv* env, void** priv, ERL_NIF_TERM info) {
    priv_t* p = make_priv(env, 1, info, ERL_NIF_RT_CREATE);
    loads++;
    if (!p) return 1;
    *priv = p;
    return 0;
}

static int upgrade(ErlNifEnv* env, void** priv, void** old_priv, ERL_NIF_TERM info) {
    priv_t* old = *old_priv;
    priv_t* p = make_priv(env, old->gen + 1, info, ERL_NIF_RT_CREATE | ERL_NIF_RT_TAKEOVER);
    upgrades++;
    if (!p) return 1;
    *priv = p;
    return 0;
}

static void unload(ErlNifEnv* env, void* priv) {
    (void)env;
    unloads++;
    last_unloaded_gen = ((priv_t*)priv)->gen;
    enif_free(priv);
}

/* info() -> {Loads, Upgrades, Unloads, LastUnloadedGen, Gen, LoadInfo, Tried} */
static ERL_NIF_TERM info(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    priv_t* p = enif_priv_data(env);
    (void)argc; (void)argv;
    return enif_make_tuple7(env, enif_make_int(env, loads), enif_make_int(env, upgrades),
        enif_make_int(env, unloads), enif_make_int(env, last_unloaded_gen),
        enif_make_int(env, p->gen), enif_make_int(env, p->load_info), enif_make_int(env, (int)p->tried));
}

/* new(V) -> R, tagged with the generation that made it */
static ERL_NIF_TERM new_res(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    priv_t* p = enif_priv_data(env);
    obj_t* o = enif_alloc_resource(p->type, sizeof *o);
    ERL_NIF_TERM t;
    (void)argc;
    o->gen = p->gen;
    if (!enif_get_long(env, argv[0], &o->value)) o->value = 0;
    t = enif_make_resource(env, o);
    enif_release_resource(o);
    return t;
}

/* get(R) -> {MadeByGen, Value} | badarg */
static ERL_NIF_TERM get(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    priv_t* p = enif_priv_data(env);
    obj_t* o;
    (void)argc;
    if (!enif_get_resource(env, argv[0], p->type, (void**)&o)) return enif_make_badarg(env);
    return enif_make_tuple2(env, enif_make_int(env, o->gen), enif_make_long(env, o->value));
}

/* dtors() -> {Calls, SumOfValues} */
static ERL_NIF_TERM dtors(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    (void)argc; (void)argv;
    return enif_make_tuple2(env, enif_make_long(env, __atomic_load_n(&dtor_calls, __ATOMIC_SEQ_CST)),
                            enif_make_long(env, __atomic_load_n(&dtor_value_sum, __ATOMIC_SEQ_CST)));
}

static ErlNifFunc funcs[] = {
    {"info", 0, info, 0},
    {"new", 1, new_res, 0},
    {"get", 1, get, 0},
    {"dtors", 0, dtors, 0},
};

ERL_NIF_INIT(api_upgrade, funcs, load, NULL, upgrade, unload)
