/* api_resources: resource types made three ways (open_resource_type,
 * open_resource_type_x, init_resource_type), the resource life cycle with
 * destructor counters, resource binaries, keep/release, process monitors
 * with a down callback, and dynamic resource calls.
 * Destructor counts are kept per "batch" so cases do not disturb each other. */
#include <erl_nif.h>
#include <string.h>

#define NBATCH 64

typedef struct {
    ErlNifResourceType* counted; /* enif_open_resource_type, dtor */
    ErlNifResourceType* mon;     /* enif_open_resource_type_x, dtor + down */
    ErlNifResourceType* dyn;     /* enif_init_resource_type, dtor + dyncall */
    ErlNifResourceType* nodown;  /* enif_open_resource_type_x, no callbacks */
    ErlNifResourceFlags tried[4];
    int load_info;
} priv_t;

typedef struct {
    int batch;
    long value;
    size_t len;
    unsigned char data[];
} counted_t;

typedef struct {
    ErlNifPid owner;
    ErlNifMonitor mon;
    int active;
    int downs;
} mon_t;

typedef struct {
    long value;
} dyn_t;

typedef struct {
    long add;
    long result;
    int magic;
} dyn_call_t;

static long dtor_counts[NBATCH];
static void* kept;

static void count_dtor(int batch) {
    if (batch >= 0 && batch < NBATCH) __atomic_add_fetch(&dtor_counts[batch], 1, __ATOMIC_SEQ_CST);
}

static void counted_dtor(ErlNifEnv* env, void* obj) {
    (void)env;
    count_dtor(((counted_t*)obj)->batch);
}

static void mon_dtor(ErlNifEnv* env, void* obj) {
    (void)env; (void)obj;
    count_dtor(1);
}

/* The down callback tells the owner which monitor fired and for which pid. */
static void mon_down(ErlNifEnv* env, void* obj, ErlNifPid* pid, ErlNifMonitor* mon) {
    mon_t* m = obj;
    ErlNifEnv* menv = enif_alloc_env();
    ERL_NIF_TERM msg;
    m->downs++;
    msg = enif_make_tuple5(menv, enif_make_atom(menv, "api_down"),
        enif_make_monitor_term(menv, mon), enif_make_pid(menv, pid),
        enif_make_int(menv, enif_compare_monitors(mon, &m->mon)),
        enif_make_int(menv, m->downs));
    m->active = 0;
    enif_send(env, &m->owner, menv, msg);
    enif_free_env(menv);
}

static void dyn_dtor(ErlNifEnv* env, void* obj) {
    (void)env; (void)obj;
    count_dtor(2);
}

static void dyn_call(ErlNifEnv* env, void* obj, void* call_data) {
    dyn_t* d = obj;
    dyn_call_t* c = call_data;
    (void)env;
    if (c->magic != 0x5eed) return;
    d->value += c->add;
    c->result = d->value;
    c->magic = 0xd0e;
}

static int load(ErlNifEnv* env, void** priv_data, ERL_NIF_TERM info) {
    priv_t* p = enif_alloc(sizeof *p);
    ErlNifResourceTypeInit mon_init = {mon_dtor, NULL, mon_down, 0, NULL};
    ErlNifResourceTypeInit dyn_init = {dyn_dtor, NULL, NULL, 4, dyn_call};
    ErlNifResourceTypeInit none = {NULL, NULL, NULL, 0, NULL};
    if (!p) return 1;
    memset(p, 0, sizeof *p);
    if (!enif_get_int(env, info, &p->load_info)) p->load_info = -1;
    p->counted = enif_open_resource_type(env, NULL, "api_counted", counted_dtor, ERL_NIF_RT_CREATE, &p->tried[0]);
    p->mon = enif_open_resource_type_x(env, "api_mon", &mon_init, ERL_NIF_RT_CREATE, &p->tried[1]);
    p->dyn = enif_init_resource_type(env, "api_dyn", &dyn_init, ERL_NIF_RT_CREATE, &p->tried[2]);
    p->nodown = enif_open_resource_type_x(env, "api_nodown", &none, ERL_NIF_RT_CREATE, &p->tried[3]);
    if (!p->counted || !p->mon || !p->dyn || !p->nodown) {
        enif_free(p);
        return 2;
    }
    *priv_data = p;
    return 0;
}

static void unload(ErlNifEnv* env, void* priv_data) {
    (void)env;
    enif_free(priv_data);
}

static priv_t* P(ErlNifEnv* env) { return enif_priv_data(env); }

static ERL_NIF_TERM make_counted(ErlNifEnv* env, int batch, long value, size_t extra) {
    counted_t* c = enif_alloc_resource(P(env)->counted, sizeof(counted_t) + extra);
    ERL_NIF_TERM t;
    c->batch = batch;
    c->value = value;
    c->len = extra;
    memset(c->data, 0, extra);
    t = enif_make_resource(env, c);
    enif_release_resource(c);
    return t;
}

static int get_batch(ErlNifEnv* env, ERL_NIF_TERM t, int* b) {
    return enif_get_int(env, t, b) && *b >= 0 && *b < NBATCH;
}

/* info() -> {LoadInfo, [Tried flags]} */
static ERL_NIF_TERM info(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    priv_t* p = P(env);
    ERL_NIF_TERM l[4];
    int i;
    (void)argc; (void)argv;
    for (i = 0; i < 4; i++) l[i] = enif_make_int(env, (int)p->tried[i]);
    return enif_make_tuple2(env, enif_make_int(env, p->load_info), enif_make_list_from_array(env, l, 4));
}

/* new(Batch, Value) -> Resource */
static ERL_NIF_TERM new_res(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    int b;
    long v;
    (void)argc;
    if (!get_batch(env, argv[0], &b) || !enif_get_long(env, argv[1], &v)) return enif_make_badarg(env);
    return make_counted(env, b, v, 0);
}

/* new_many(Batch, N) -> [Resource] with values N-1..0 */
static ERL_NIF_TERM new_many(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    int b;
    unsigned n, i;
    ERL_NIF_TERM l = enif_make_list(env, 0);
    (void)argc;
    if (!get_batch(env, argv[0], &b) || !enif_get_uint(env, argv[1], &n)) return enif_make_badarg(env);
    for (i = 0; i < n; i++) l = enif_make_list_cell(env, make_counted(env, b, (long)i, 0), l);
    return l;
}

/* value(R) -> Value | badarg */
static ERL_NIF_TERM value(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    counted_t* c;
    (void)argc;
    if (!enif_get_resource(env, argv[0], P(env)->counted, (void**)&c)) return enif_make_badarg(env);
    return enif_make_long(env, c->value);
}

/* res_size(R) -> bytes of the object; works for every type of this module */
static ERL_NIF_TERM size(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    priv_t* p = P(env);
    void* o;
    (void)argc;
    if (enif_get_resource(env, argv[0], p->counted, &o) || enif_get_resource(env, argv[0], p->mon, &o) ||
        enif_get_resource(env, argv[0], p->dyn, &o) || enif_get_resource(env, argv[0], p->nodown, &o))
        return enif_make_uint64(env, enif_sizeof_resource(o));
    return enif_make_badarg(env);
}

/* dtors(Batch) -> destructor calls so far */
static ERL_NIF_TERM dtors(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    int b;
    (void)argc;
    if (!get_batch(env, argv[0], &b)) return enif_make_badarg(env);
    return enif_make_long(env, __atomic_load_n(&dtor_counts[b], __ATOMIC_SEQ_CST));
}

/* res_bin(Batch, Bin) -> binary whose bytes live in a resource */
static ERL_NIF_TERM res_bin(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    int b;
    ErlNifBinary in;
    counted_t* c;
    ERL_NIF_TERM t;
    (void)argc;
    if (!get_batch(env, argv[0], &b) || !enif_inspect_binary(env, argv[1], &in)) return enif_make_badarg(env);
    c = enif_alloc_resource(P(env)->counted, sizeof(counted_t) + in.size);
    c->batch = b;
    c->value = (long)in.size;
    c->len = in.size;
    memcpy(c->data, in.data, in.size);
    t = enif_make_resource_binary(env, c, c->data + 1, in.size > 0 ? in.size - 1 : 0);
    enif_release_resource(c);
    return t;
}

/* res_bin_static(Batch) -> a binary of the library's own constant data,
 * kept alive by a resource (natively the VM points at the library's bytes;
 * isolated they are outside the shared window). */
static const char static_text[] = "constant data of the library, outside any heap";
static ERL_NIF_TERM res_bin_static(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    int b;
    counted_t* c;
    ERL_NIF_TERM t;
    (void)argc;
    if (!get_batch(env, argv[0], &b)) return enif_make_badarg(env);
    c = enif_alloc_resource(P(env)->counted, sizeof(counted_t));
    c->batch = b;
    c->value = 0;
    c->len = 0;
    t = enif_make_resource_binary(env, c, static_text, sizeof static_text - 1);
    enif_release_resource(c);
    return t;
}

/* keep(R): an extra reference held in C; unkeep() drops it. */
static ERL_NIF_TERM keep(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    counted_t* c;
    (void)argc;
    if (kept || !enif_get_resource(env, argv[0], P(env)->counted, (void**)&c)) return enif_make_badarg(env);
    enif_keep_resource(c);
    kept = c;
    return enif_make_atom(env, "ok");
}

static ERL_NIF_TERM unkeep(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    counted_t* c = kept;
    long v;
    (void)argc; (void)argv;
    if (!c) return enif_make_badarg(env);
    v = c->value;
    kept = NULL;
    enif_release_resource(c);
    return enif_make_long(env, v);
}

/* mon_new() -> R owned by the caller */
static ERL_NIF_TERM mon_new(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    mon_t* m = enif_alloc_resource(P(env)->mon, sizeof *m);
    ERL_NIF_TERM t;
    (void)argc; (void)argv;
    memset(m, 0, sizeof *m);
    enif_self(env, &m->owner);
    t = enif_make_resource(env, m);
    enif_release_resource(m);
    return t;
}

/* mon_start(R, Pid) -> {Ret, MonitorTerm | none} */
static ERL_NIF_TERM monitor(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    mon_t* m;
    ErlNifPid pid;
    int r;
    (void)argc;
    if (!enif_get_resource(env, argv[0], P(env)->mon, (void**)&m) || !enif_get_local_pid(env, argv[1], &pid))
        return enif_make_badarg(env);
    r = enif_monitor_process(env, m, &pid, &m->mon);
    if (r == 0) m->active = 1;
    return enif_make_tuple2(env, enif_make_int(env, r),
        r == 0 ? enif_make_monitor_term(env, &m->mon) : enif_make_atom(env, "none"));
}

/* mon_stop(R) -> Ret */
static ERL_NIF_TERM demonitor(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    mon_t* m;
    (void)argc;
    if (!enif_get_resource(env, argv[0], P(env)->mon, (void**)&m)) return enif_make_badarg(env);
    return enif_make_int(env, enif_demonitor_process(env, m, &m->mon));
}

/* mon_cmp(R1, R2) -> {R1 vs R1, sign(R1 vs R2), sign(R2 vs R1), downs of R1} */
static ERL_NIF_TERM mon_cmp(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    mon_t *a, *b;
    int ab, ba;
    (void)argc;
    if (!enif_get_resource(env, argv[0], P(env)->mon, (void**)&a) ||
        !enif_get_resource(env, argv[1], P(env)->mon, (void**)&b))
        return enif_make_badarg(env);
    ab = enif_compare_monitors(&a->mon, &b->mon);
    ba = enif_compare_monitors(&b->mon, &a->mon);
    return enif_make_tuple4(env, enif_make_int(env, enif_compare_monitors(&a->mon, &a->mon)),
        enif_make_int(env, ab < 0 ? -1 : ab > 0), enif_make_int(env, ba < 0 ? -1 : ba > 0),
        enif_make_int(env, a->downs));
}

/* nodown_monitor(Pid) -> Ret (< 0: the type has no down callback) */
static ERL_NIF_TERM nodown_monitor(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    void* o = enif_alloc_resource(P(env)->nodown, 24);
    ErlNifPid pid;
    ErlNifMonitor mon;
    int r;
    (void)argc;
    if (!enif_get_local_pid(env, argv[0], &pid)) {
        enif_release_resource(o);
        return enif_make_badarg(env);
    }
    r = enif_monitor_process(env, o, &pid, &mon);
    enif_release_resource(o);
    return enif_make_int(env, r < 0 ? -1 : (r > 0 ? 1 : 0));
}

/* nodown_new() -> R of the callback-less type */
static ERL_NIF_TERM nodown_new(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    void* o = enif_alloc_resource(P(env)->nodown, 40);
    ERL_NIF_TERM t = enif_make_resource(env, o);
    (void)argc; (void)argv;
    enif_release_resource(o);
    return t;
}

/* dyn_new(V) -> R */
static ERL_NIF_TERM dyn_new(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    dyn_t* d = enif_alloc_resource(P(env)->dyn, sizeof *d);
    ERL_NIF_TERM t;
    (void)argc;
    if (!enif_get_long(env, argv[0], &d->value)) d->value = 0;
    t = enif_make_resource(env, d);
    enif_release_resource(d);
    return t;
}

/* dyn_call(Module, TypeName, R, Add) -> {Ret, Result, MagicChanged} */
static ERL_NIF_TERM dyn_call_nif(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    dyn_call_t c = {0, -1, 0x5eed};
    int r;
    (void)argc;
    if (!enif_get_long(env, argv[3], &c.add)) return enif_make_badarg(env);
    r = enif_dynamic_resource_call(env, argv[0], argv[1], argv[2], &c);
    return enif_make_tuple3(env, enif_make_int(env, r), enif_make_long(env, c.result),
                            enif_make_atom(env, c.magic == 0xd0e ? "true" : "false"));
}

static ErlNifFunc funcs[] = {
    {"info", 0, info, 0},
    {"new", 2, new_res, 0},
    {"new_many", 2, new_many, 0},
    {"value", 1, value, 0},
    {"res_size", 1, size, 0},
    {"dtors", 1, dtors, 0},
    {"res_bin", 2, res_bin, 0},
    {"res_bin_static", 1, res_bin_static, 0},
    {"keep", 1, keep, 0},
    {"unkeep", 0, unkeep, 0},
    {"mon_new", 0, mon_new, 0},
    {"mon_start", 2, monitor, 0},
    {"mon_stop", 1, demonitor, 0},
    {"mon_cmp", 2, mon_cmp, 0},
    {"nodown_monitor", 1, nodown_monitor, 0},
    {"nodown_new", 0, nodown_new, 0},
    {"dyn_new", 1, dyn_new, 0},
    {"dyn_call", 4, dyn_call_nif, 0},
};

ERL_NIF_INIT(api_resources, funcs, load, NULL, NULL, unload)
