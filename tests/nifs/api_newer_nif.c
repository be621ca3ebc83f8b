/* api_newer: the enif functions newer than NIF 2.16, compiled only for a
 * runtime that has them. 2.17 (OTP 26+): enif_set_option (delay halt, on
 * halt, on unload per scheduler thread), enif_get_string_length,
 * enif_make_new_atom(_len), the ERL_NIF_UTF8 encoding. 2.18 (OTP 29):
 * enif_term_size, enif_get_atom_cache_index, enif_max_atom_cache_index.
 * Built against 2.16 headers the library has one function, nif_minor/0.
 *
 * The callbacks append a line to the file named by NIFSHIM_TEST_EVENTS (if
 * set): "on_halt", "unload_thread <thread type>", "unload", "slow started",
 * "slow finished"; tests/erlang/run_case.sh (case api_options) compares the
 * file of a native run with an isolated one. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <erl_nif.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static ERL_NIF_TERM nif_minor(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    (void)argc; (void)argv;
    return enif_make_int(env, ERL_NIF_MINOR_VERSION);
}

#if ERL_NIF_MINOR_VERSION >= 17
typedef struct {
    int rc[6];  /* the answers of enif_set_option in load */
} priv_t;

static void event(const char* what) {
    const char* path = getenv("NIFSHIM_TEST_EVENTS");
    FILE* f;
    if (path == NULL || (f = fopen(path, "a")) == NULL) return;
    fprintf(f, "%s\n", what);
    fclose(f);
}

static const char* thread_kind(void) {
    switch (enif_thread_type()) {
    case ERL_NIF_THR_NORMAL_SCHEDULER: return "normal";
    case ERL_NIF_THR_DIRTY_CPU_SCHEDULER: return "dirty_cpu";
    case ERL_NIF_THR_DIRTY_IO_SCHEDULER: return "dirty_io";
    default: return "undefined";
    }
}

static void on_halt(void* priv) {
    event(priv != NULL && ((priv_t*)priv)->rc[0] == 0 ? "on_halt" : "on_halt without priv_data");
}

static void on_unload_thread(void* priv) {
    char line[64];
    snprintf(line, sizeof line, "unload_thread %s%s", thread_kind(), priv ? "" : " without priv_data");
    event(line);
}

static int load(ErlNifEnv* env, void** priv, ERL_NIF_TERM info) {
    priv_t* p = enif_alloc(sizeof *p);
    (void)info;
    if (!p) return 1;
    p->rc[0] = enif_set_option(env, ERL_NIF_OPT_DELAY_HALT);
    p->rc[1] = enif_set_option(env, ERL_NIF_OPT_DELAY_HALT);             /* twice: EINVAL */
    p->rc[2] = enif_set_option(env, ERL_NIF_OPT_ON_HALT, on_halt);
    p->rc[3] = enif_set_option(env, ERL_NIF_OPT_ON_HALT, on_halt);       /* twice: EINVAL */
    p->rc[4] = enif_set_option(env, ERL_NIF_OPT_ON_UNLOAD_THREAD, on_unload_thread);
    p->rc[5] = enif_set_option(env, (ErlNifOption)99);                   /* unknown: EINVAL */
    *priv = p;
    return 0;
}

static void unload(ErlNifEnv* env, void* priv) {
    (void)env;
    event("unload");
    enif_free(priv);
}

static ERL_NIF_TERM errno_atom(ErlNifEnv* env, int rc) {
    return rc == 0 ? enif_make_atom(env, "ok")
         : rc == EINVAL ? enif_make_atom(env, "einval") : enif_make_int(env, rc);
}

/* load_options() -> [ok | einval ...] as load got them; then set_option
 * outside load (EINVAL). */
static ERL_NIF_TERM load_options(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    priv_t* p = enif_priv_data(env);
    ERL_NIF_TERM l[8];
    int i;
    (void)argc; (void)argv;
    for (i = 0; i < 6; i++) l[i] = errno_atom(env, p->rc[i]);
    l[6] = errno_atom(env, enif_set_option(env, ERL_NIF_OPT_DELAY_HALT));
    l[7] = errno_atom(env, enif_set_option(env, ERL_NIF_OPT_ON_HALT, on_halt));
    return enif_make_list_from_array(env, l, 8);
}

static ErlNifCharEncoding encoding(ErlNifEnv* env, ERL_NIF_TERM t) {
    char a[16];
    if (enif_get_atom(env, t, a, sizeof a, ERL_NIF_LATIN1) && strcmp(a, "utf8") == 0) return ERL_NIF_UTF8;
    if (strcmp(a, "latin1") == 0) return ERL_NIF_LATIN1;
    return (ErlNifCharEncoding)77;  /* not an encoding */
}

/* string_length(List, Enc) -> {ok, Len} | error */
static ERL_NIF_TERM string_length(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    unsigned len = 0;
    (void)argc;
    if (!enif_get_string_length(env, argv[0], &len, encoding(env, argv[1]))) return enif_make_atom(env, "error");
    return enif_make_tuple2(env, enif_make_atom(env, "ok"), enif_make_uint(env, len));
}

/* new_atom(Bin, Enc) -> {ResultOfLen, ResultOfNulTerminated} */
static ERL_NIF_TERM new_atom(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifBinary b;
    ERL_NIF_TERM a1 = 0, a2 = 0, r1, r2;
    char buf[1024];
    ErlNifCharEncoding enc = encoding(env, argv[1]);
    (void)argc;
    if (!enif_inspect_binary(env, argv[0], &b) || b.size >= sizeof buf) return enif_make_badarg(env);
    r1 = enif_make_new_atom_len(env, (const char*)b.data, b.size, &a1, enc) ? a1 : enif_make_atom(env, "error");
    memcpy(buf, b.data, b.size);
    buf[b.size] = '\0';
    r2 = enif_make_new_atom(env, buf, &a2, enc) ? a2 : enif_make_atom(env, "error");
    return enif_make_tuple2(env, r1, r2);
}

/* utf8(Atom, Bin) -> what the encoding-taking functions answer with UTF-8. */
static ERL_NIF_TERM utf8(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    char buf[256];
    unsigned len = 0;
    int n;
    ERL_NIF_TERM existing = 0, str, l[5];
    ErlNifBinary b;
    (void)argc;
    if (!enif_inspect_binary(env, argv[1], &b) || b.size >= sizeof buf) return enif_make_badarg(env);
    n = enif_get_atom(env, argv[0], buf, sizeof buf, ERL_NIF_UTF8);
    l[0] = n > 0 ? enif_make_string_len(env, buf, (size_t)n - 1, ERL_NIF_LATIN1) : enif_make_int(env, n);
    l[1] = enif_get_atom_length(env, argv[0], &len, ERL_NIF_UTF8) ? enif_make_uint(env, len) : enif_make_atom(env, "error");
    l[2] = enif_make_existing_atom_len(env, (const char*)b.data, b.size, &existing, ERL_NIF_UTF8)
         ? existing : enif_make_atom(env, "error");
    memcpy(buf, b.data, b.size);
    buf[b.size] = '\0';
    l[3] = enif_make_existing_atom(env, buf, &existing, ERL_NIF_UTF8) ? existing : enif_make_atom(env, "error");
    str = enif_make_string_len(env, (const char*)b.data, b.size, ERL_NIF_UTF8);
    l[4] = str;
    return enif_make_list_from_array(env, l, 5);
}

/* slow(Ms): a dirty CPU NIF that the VM's halt waits for (DELAY_HALT). */
static ERL_NIF_TERM slow(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    int ms;
    struct timespec ts;
    (void)argc;
    if (!enif_get_int(env, argv[0], &ms) || ms < 0) return enif_make_badarg(env);
    event("slow started");
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {}
    event("slow finished");
    return enif_make_atom(env, "ok");
}
#endif

#if ERL_NIF_MINOR_VERSION >= 18
/* sizes(Terms) -> [enif_term_size(T)] */
static ERL_NIF_TERM sizes(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ERL_NIF_TERM head, tail = argv[0], out = enif_make_list(env, 0), rev;
    (void)argc;
    while (enif_get_list_cell(env, tail, &head, &tail))
        out = enif_make_list_cell(env, enif_make_uint64(env, enif_term_size(head)), out);
    enif_make_reverse_list(env, out, &rev);
    return rev;
}

/* cache_index(Atom) -> {Index | error, MaxIndex} */
static ERL_NIF_TERM cache_index(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    unsigned ix = 0;
    (void)argc;
    return enif_make_tuple2(env,
        enif_get_atom_cache_index(env, argv[0], &ix) ? enif_make_uint(env, ix) : enif_make_atom(env, "error"),
        enif_make_uint(env, enif_max_atom_cache_index()));
}
#endif

static ErlNifFunc funcs[] = {
    {"nif_minor", 0, nif_minor, 0},
#if ERL_NIF_MINOR_VERSION >= 17
    {"load_options", 0, load_options, 0},
    {"string_length", 2, string_length, 0},
    {"new_atom", 2, new_atom, 0},
    {"utf8", 2, utf8, 0},
    {"slow", 1, slow, ERL_NIF_DIRTY_JOB_CPU_BOUND},
#endif
#if ERL_NIF_MINOR_VERSION >= 18
    {"sizes", 1, sizes, 0},
    {"cache_index", 1, cache_index, 0},
#endif
};

#if ERL_NIF_MINOR_VERSION >= 17
ERL_NIF_INIT(api_newer, funcs, load, NULL, NULL, unload)
#else
ERL_NIF_INIT(api_newer, funcs, NULL, NULL, NULL, NULL)
#endif
