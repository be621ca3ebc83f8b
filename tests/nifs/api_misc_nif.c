/* api_misc: memory, time, hashing, system info, environment variables,
 * dlopen/dlsym, formatted printing (%T), rescheduling (schedule_nif,
 * consume_timeslice, dirty CPU and IO NIFs), unique integers, pids, ports,
 * messages, and a dynamic resource call into another module (api_resources). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <erl_nif.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int calls;
} priv_t;

static ERL_NIF_TERM mk_bool(ErlNifEnv* env, int b) {
    return enif_make_atom(env, b ? "true" : "false");
}

static ERL_NIF_TERM type_atom(ErlNifEnv* env, int t) {
    switch (t) {
    case ERL_NIF_THR_NORMAL_SCHEDULER: return enif_make_atom(env, "normal");
    case ERL_NIF_THR_DIRTY_CPU_SCHEDULER: return enif_make_atom(env, "dirty_cpu");
    case ERL_NIF_THR_DIRTY_IO_SCHEDULER: return enif_make_atom(env, "dirty_io");
    default: return enif_make_atom(env, "undefined");
    }
}

static int load(ErlNifEnv* env, void** priv, ERL_NIF_TERM info) {
    priv_t* p = enif_alloc(sizeof *p);
    (void)env; (void)info;
    if (!p) return 1;
    p->calls = 0;
    *priv = p;
    return 0;
}

static void unload(ErlNifEnv* env, void* priv) {
    (void)env;
    enif_free(priv);
}

/* mem(N) -> {Checksum, PrefixKeptByRealloc} */
static ERL_NIF_TERM mem(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    unsigned n, i;
    unsigned char *p, *q;
    unsigned long sum = 0;
    int kept = 1;
    (void)argc;
    if (!enif_get_uint(env, argv[0], &n) || n == 0) return enif_make_badarg(env);
    p = enif_alloc(n);
    if (!p) return enif_make_badarg(env);
    for (i = 0; i < n; i++) p[i] = (unsigned char)(i * 7);
    q = enif_realloc(p, 2 * (size_t)n);
    if (!q) {
        enif_free(p);
        return enif_make_badarg(env);
    }
    for (i = 0; i < n; i++) kept &= q[i] == (unsigned char)(i * 7);
    for (i = n; i < 2 * n; i++) q[i] = (unsigned char)i;
    for (i = 0; i < 2 * n; i++) sum = sum * 33 + q[i];
    enif_free(q);
    return enif_make_tuple2(env, enif_make_ulong(env, sum), mk_bool(env, kept));
}

/* mem_loop(Iters, Size): allocate, touch and free Size bytes Iters times. */
static ERL_NIF_TERM mem_loop(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    unsigned it, size, i;
    unsigned long acc = 0;
    (void)argc;
    if (!enif_get_uint(env, argv[0], &it) || !enif_get_uint(env, argv[1], &size) || size == 0)
        return enif_make_badarg(env);
    for (i = 0; i < it; i++) {
        unsigned char* p = enif_alloc(size);
        if (!p) return enif_make_badarg(env);
        memset(p, (int)i, size);
        acc += p[size - 1];
        enif_free(p);
    }
    return enif_make_ulong(env, acc);
}

/* time_info() -> {MonoNonDecreasing, Conv1sToUs, Conv1999msToS, ConvMinus1msToS,
 *                 BadConv, BadMono, BadOffset, Now, Cpu, MonoNs, OffsetNs} */
static ERL_NIF_TERM time_info(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifTime m1, m2;
    ERL_NIF_TERM r[11];
    (void)argc; (void)argv;
    m1 = enif_monotonic_time(ERL_NIF_NSEC);
    m2 = enif_monotonic_time(ERL_NIF_NSEC);
    r[0] = mk_bool(env, m2 >= m1);
    r[1] = enif_make_int64(env, enif_convert_time_unit(1, ERL_NIF_SEC, ERL_NIF_USEC));
    r[2] = enif_make_int64(env, enif_convert_time_unit(1999, ERL_NIF_MSEC, ERL_NIF_SEC));
    r[3] = enif_make_int64(env, enif_convert_time_unit(-1, ERL_NIF_MSEC, ERL_NIF_SEC));
    r[4] = mk_bool(env, enif_convert_time_unit(1, (ErlNifTimeUnit)99, ERL_NIF_SEC) == ERL_NIF_TIME_ERROR);
    r[5] = mk_bool(env, enif_monotonic_time((ErlNifTimeUnit)99) == ERL_NIF_TIME_ERROR);
    r[6] = mk_bool(env, enif_time_offset((ErlNifTimeUnit)99) == ERL_NIF_TIME_ERROR);
    r[7] = enif_now_time(env);
    r[8] = enif_cpu_time(env);
    r[9] = enif_make_int64(env, enif_monotonic_time(ERL_NIF_NSEC));
    r[10] = enif_make_int64(env, enif_time_offset(ERL_NIF_NSEC));
    return enif_make_tuple_from_array(env, r, 11);
}

/* hash(T, Salt) -> {Internal, Phash2} */
static ERL_NIF_TERM hash(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifUInt64 salt;
    (void)argc;
    if (!enif_get_uint64(env, argv[1], &salt)) return enif_make_badarg(env);
    return enif_make_tuple2(env, enif_make_uint64(env, enif_hash(ERL_NIF_INTERNAL_HASH, argv[0], salt)),
                            enif_make_uint64(env, enif_hash(ERL_NIF_PHASH2, argv[0], salt)));
}

/* sysinfo() -> {Full tuple, PartialUntouched} */
static ERL_NIF_TERM sysinfo(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifSysInfo si, part;
    ERL_NIF_TERM full;
    (void)argc; (void)argv;
    memset(&si, 0, sizeof si);
    enif_system_info(&si, sizeof si);
    full = enif_make_list(env, 11, enif_make_int(env, si.driver_major_version),
        enif_make_int(env, si.driver_minor_version), enif_make_string(env, si.erts_version, ERL_NIF_LATIN1),
        enif_make_string(env, si.otp_release, ERL_NIF_LATIN1), enif_make_int(env, si.thread_support),
        enif_make_int(env, si.smp_support), enif_make_int(env, si.async_threads),
        enif_make_int(env, si.scheduler_threads), enif_make_int(env, si.nif_major_version),
        enif_make_int(env, si.nif_minor_version), enif_make_int(env, si.dirty_scheduler_support));
    /* only the fields that fit in the given size are written (the VM
     * insists on at least up to erts_version) */
    memset(&part, 0x55, sizeof part);
    enif_system_info(&part, offsetof(ErlNifSysInfo, async_threads));
    return enif_make_tuple2(env, full,
        enif_make_tuple4(env, enif_make_int(env, part.driver_major_version),
                         mk_bool(env, strcmp(part.otp_release, si.otp_release) == 0),
                         enif_make_int(env, part.smp_support),
                         mk_bool(env, part.async_threads == 0x55555555 && part.scheduler_threads == 0x55555555)));
}

/* getenv(Name, BufSize) -> {Ret, Value | RequiredSize | none} */
static ERL_NIF_TERM getenv_nif(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    char name[128], buf[256];
    unsigned bs;
    size_t size;
    int r;
    (void)argc;
    if (enif_get_string(env, argv[0], name, sizeof name, ERL_NIF_LATIN1) <= 0 ||
        !enif_get_uint(env, argv[1], &bs) || bs > sizeof buf)
        return enif_make_badarg(env);
    size = bs;
    r = enif_getenv(name, buf, &size);
    if (r == 0) return enif_make_tuple2(env, enif_make_int(env, 0), enif_make_string(env, buf, ERL_NIF_LATIN1));
    if (r > 0) return enif_make_tuple2(env, enif_make_int(env, 1), enif_make_uint64(env, size));
    return enif_make_tuple2(env, enif_make_int(env, -1), enif_make_atom(env, "none"));
}

typedef struct {
    int called;
    char msg[512];
} dl_err_t;

static void dl_err(void* arg, const char* msg) {
    dl_err_t* e = arg;
    e->called++;
    snprintf(e->msg, sizeof e->msg, "%s", msg ? msg : "");
}

/* dl(PathWithoutSo, Symbol, X) -> {ok, Sym(X), HandlerCalls}
 *   | {error, open | sym, HandlerCalls, MessageNamesIt} */
static ERL_NIF_TERM dl(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    char path[512], sym[128];
    double x;
    dl_err_t e;
    void *h, *f;
    double (*fn)(double);
    (void)argc;
    if (enif_get_string(env, argv[0], path, sizeof path, ERL_NIF_LATIN1) <= 0 ||
        enif_get_string(env, argv[1], sym, sizeof sym, ERL_NIF_LATIN1) <= 0 || !enif_get_double(env, argv[2], &x))
        return enif_make_badarg(env);
    memset(&e, 0, sizeof e);
    h = enif_dlopen(path, dl_err, &e);
    if (!h)
        return enif_make_tuple4(env, enif_make_atom(env, "error"), enif_make_atom(env, "open"),
            enif_make_int(env, e.called), mk_bool(env, e.msg[0] != 0));
    f = enif_dlsym(h, sym, dl_err, &e);
    if (!f)
        return enif_make_tuple4(env, enif_make_atom(env, "error"), enif_make_atom(env, "sym"),
            enif_make_int(env, e.called), mk_bool(env, strstr(e.msg, sym) != NULL));
    memcpy(&fn, &f, sizeof fn);
    return enif_make_tuple3(env, enif_make_atom(env, "ok"), enif_make_double(env, fn(x)), enif_make_int(env, e.called));
}

static int my_vsnprintf(char* buf, size_t n, const char* fmt, ...) {
    va_list ap;
    int r;
    va_start(ap, fmt);
    r = enif_vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return r;
}

static int my_vfprintf(FILE* f, const char* fmt, ...) {
    va_list ap;
    int r;
    va_start(ap, fmt);
    r = enif_vfprintf(f, fmt, ap);
    va_end(ap);
    return r;
}

/* fmt(Term, Int, String) -> [{Ret, Text}] for snprintf, truncated snprintf,
 * vsnprintf, and fprintf + vfprintf into a memory stream. */
static ERL_NIF_TERM fmt(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    char buf[512], small[8], s[64];
    long i;
    int r1, r2, r3, r4, r5;
    char* mbuf = NULL;
    size_t msize = 0;
    FILE* f;
    ERL_NIF_TERM mt;
    (void)argc;
    if (!enif_get_long(env, argv[1], &i) || enif_get_string(env, argv[2], s, sizeof s, ERL_NIF_LATIN1) <= 0)
        return enif_make_badarg(env);
    r1 = enif_snprintf(buf, sizeof buf, "T=%T p=%.2T i=%ld s=%s x=%x f=%.3f c=%c %%", argv[0], argv[0], i, s, 255u, 2.5, 'z');
    r2 = enif_snprintf(small, sizeof small, "%T", argv[0]);
    f = open_memstream(&mbuf, &msize);
    if (!f) return enif_make_badarg(env);
    r4 = enif_fprintf(f, "[%T][%.3T][%.*T]", argv[0], argv[0], 1, argv[0]);
    r5 = my_vfprintf(f, "<%d|%s|%T>", 42, s, argv[1]);
    fclose(f);
    mt = enif_make_string_len(env, mbuf, msize, ERL_NIF_LATIN1);
    free(mbuf);
    {
        ERL_NIF_TERM t1 = enif_make_tuple2(env, enif_make_int(env, r1), enif_make_string(env, buf, ERL_NIF_LATIN1));
        ERL_NIF_TERM t2 = enif_make_tuple2(env, enif_make_int(env, r2), enif_make_string(env, small, ERL_NIF_LATIN1));
        r3 = my_vsnprintf(buf, sizeof buf, "v:%T:%lu", argv[0], 7ul);
        return enif_make_list4(env, t1, t2,
            enif_make_tuple2(env, enif_make_int(env, r3), enif_make_string(env, buf, ERL_NIF_LATIN1)),
            enif_make_tuple3(env, enif_make_int(env, r4), enif_make_int(env, r5), mt));
    }
}

/* sched(N, Acc): reschedules itself N times adding N..1 to Acc; N < 0 -> badarg. */
static ERL_NIF_TERM sched(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    long n, acc;
    ERL_NIF_TERM a[2];
    (void)argc;
    if (!enif_get_long(env, argv[0], &n) || !enif_get_long(env, argv[1], &acc)) return enif_make_badarg(env);
    if (n < 0) return enif_make_badarg(env);
    if (n == 0) return enif_make_long(env, acc);
    a[0] = enif_make_long(env, n - 1);
    a[1] = enif_make_long(env, acc + n);
    return enif_schedule_nif(env, "api_sched", 0, sched, 2, a);
}

/* chain(Steps) -> the thread type of each step: normal -> dirty CPU -> dirty IO -> normal */
static ERL_NIF_TERM chain(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    static const int next_flags[] = {ERL_NIF_DIRTY_JOB_CPU_BOUND, ERL_NIF_DIRTY_JOB_IO_BOUND, 0};
    unsigned len;
    ERL_NIF_TERM acc = enif_make_list_cell(env, type_atom(env, enif_thread_type()), argv[0]), rev;
    (void)argc;
    if (!enif_get_list_length(env, acc, &len)) return enif_make_badarg(env);
    if (len > 3) {
        if (!enif_make_reverse_list(env, acc, &rev)) return enif_make_badarg(env);
        return rev;
    }
    return enif_schedule_nif(env, "api_chain", next_flags[len - 1], chain, 1, &acc);
}

/* consume(Pct) -> enif_consume_timeslice's answer; consume_count() -> calls of
 * consume_timeslice(1) until the slice is used up. */
static ERL_NIF_TERM consume(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    int pct;
    (void)argc;
    if (!enif_get_int(env, argv[0], &pct)) return enif_make_badarg(env);
    return enif_make_int(env, enif_consume_timeslice(env, pct));
}

static ERL_NIF_TERM consume_count(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    int n = 0;
    (void)argc; (void)argv;
    while (n < 1000) {
        n++;
        if (enif_consume_timeslice(env, 1)) break;
    }
    return enif_make_int(env, n);
}

/* consume_built() -> {{built, first}, N}: consume_count after a term built on
 * the call's heap (the worker then knows the calling process and counts the
 * reductions in place, worker/enif_direct_reductions.cc). */
static ERL_NIF_TERM consume_built(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ERL_NIF_TERM t = enif_make_tuple2(env, enif_make_atom(env, "built"), enif_make_atom(env, "first"));
    int n = 0;
    (void)argc; (void)argv;
    while (n < 1000) {
        n++;
        if (enif_consume_timeslice(env, 1)) break;
    }
    return enif_make_tuple2(env, t, enif_make_int(env, n));
}

/* work(N, Acc): sum of i*i for i < N, yielding whenever the time slice is used. */
static ERL_NIF_TERM work(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    long n, acc, i = 0;
    ERL_NIF_TERM a[2];
    (void)argc;
    if (!enif_get_long(env, argv[0], &n) || !enif_get_long(env, argv[1], &acc)) return enif_make_badarg(env);
    while (n > 0) {
        n--;
        acc += (n * n) % 1000003;
        if (++i % 2000 == 0 && enif_consume_timeslice(env, 5)) {
            a[0] = enif_make_long(env, n);
            a[1] = enif_make_long(env, acc);
            return enif_schedule_nif(env, "api_work", 0, work, 2, a);
        }
    }
    return enif_make_long(env, acc);
}

/* dirty(N) (CPU and IO bound) -> {ThreadType, Sum, ConsumeAnswer} */
static ERL_NIF_TERM dirty(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    long n, i, s = 0;
    (void)argc;
    if (!enif_get_long(env, argv[0], &n)) return enif_make_badarg(env);
    for (i = 0; i <= n; i++) s += i;
    return enif_make_tuple3(env, type_atom(env, enif_thread_type()), enif_make_long(env, s),
                            enif_make_int(env, enif_consume_timeslice(env, 100)));
}

/* args14(A1, ..., A14) -> {[A1, ..., A14], {A1, A2, A14}, [A14, A13, A1], {}, []}:
 * more arguments than a call message's slots hold (they travel in the
 * channel's data area), and the varargs constructors. */
static ERL_NIF_TERM args14(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    return enif_make_tuple5(env, enif_make_list_from_array(env, argv, (unsigned)argc),
                            enif_make_tuple3(env, argv[0], argv[1], argv[13]),
                            enif_make_list3(env, argv[13], argv[12], argv[0]),
                            enif_make_tuple(env, 0), enif_make_list(env, 0));
}

/* uniq() -> {PosMono1, PosMono2, Plain} */
static ERL_NIF_TERM uniq(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ERL_NIF_TERM a, b;
    (void)argc; (void)argv;
    a = enif_make_unique_integer(env, ERL_NIF_UNIQUE_POSITIVE | ERL_NIF_UNIQUE_MONOTONIC);
    b = enif_make_unique_integer(env, ERL_NIF_UNIQUE_POSITIVE | ERL_NIF_UNIQUE_MONOTONIC);
    return enif_make_tuple3(env, a, b, enif_make_unique_integer(env, 0));
}

/* self_info(Pid) -> {Self, PidAlive, CurrentAlive, SelfUndefined, Undefined, UndefinedTerm, CallsSoFar} */
static ERL_NIF_TERM self_info(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifPid me, other, u;
    priv_t* p = enif_priv_data(env);
    (void)argc;
    if (!enif_self(env, &me) || !enif_get_local_pid(env, argv[0], &other)) return enif_make_badarg(env);
    enif_set_pid_undefined(&u);
    p->calls++;
    return enif_make_list7(env, enif_make_pid(env, &me), mk_bool(env, enif_is_process_alive(env, &other)),
        mk_bool(env, enif_is_current_process_alive(env)), mk_bool(env, enif_is_pid_undefined(&me)),
        mk_bool(env, enif_is_pid_undefined(&u)), enif_make_pid(env, &u), enif_make_int(env, p->calls));
}

/* whereis(Name, Data) -> {pid, Pid} | {port, CommandResult} | undefined */
static ERL_NIF_TERM whereis(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifPid pid;
    ErlNifPort port;
    (void)argc;
    if (enif_whereis_pid(env, argv[0], &pid))
        return enif_make_tuple2(env, enif_make_atom(env, "pid"), enif_make_pid(env, &pid));
    if (enif_whereis_port(env, argv[0], &port))
        return enif_make_tuple2(env, enif_make_atom(env, "port"),
                                mk_bool(env, enif_port_command(env, &port, NULL, argv[1])));
    return enif_make_atom(env, "undefined");
}

/* port(Port, Data) -> {IsPort, GotLocal, Alive, CommandCallerEnv, CommandMsgEnv} */
static ERL_NIF_TERM port(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifPort p;
    ErlNifEnv* menv;
    int is, got, alive = 0, c1 = 0, c2 = 0;
    (void)argc;
    is = enif_is_port(env, argv[0]);
    got = enif_get_local_port(env, argv[0], &p);
    if (got) {
        alive = enif_is_port_alive(env, &p);
        c1 = enif_port_command(env, &p, NULL, argv[1]);
        menv = enif_alloc_env();
        c2 = enif_port_command(env, &p, menv, enif_make_copy(menv, argv[1]));
        enif_free_env(menv);
    }
    return enif_make_list5(env, mk_bool(env, is), mk_bool(env, got), mk_bool(env, alive),
                           mk_bool(env, c1), mk_bool(env, c2));
}

/* send(Pid, Msg) -> {CallerEnvResult, MsgEnvResult}: Pid gets Msg, then {copy, Msg} */
static ERL_NIF_TERM send_nif(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifPid to;
    ErlNifEnv* menv;
    int a, b;
    (void)argc;
    if (!enif_get_local_pid(env, argv[0], &to)) return enif_make_badarg(env);
    a = enif_send(env, &to, NULL, argv[1]);
    menv = enif_alloc_env();
    b = enif_send(env, &to, menv, enif_make_tuple2(menv, enif_make_atom(menv, "copy"), enif_make_copy(menv, argv[1])));
    enif_free_env(menv);
    return enif_make_tuple2(env, mk_bool(env, a), mk_bool(env, b));
}

/* dyn_call(Module, TypeName, Resource, Add): calls api_resources' dyncall
 * callback from this library: {Ret, Result, CallbackRan}. */
typedef struct {
    long add;
    long result;
    int magic;
} dyn_call_t;

static ERL_NIF_TERM dyn_call(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    dyn_call_t c = {0, -1, 0x5eed};
    int r;
    (void)argc;
    if (!enif_get_long(env, argv[3], &c.add)) return enif_make_badarg(env);
    r = enif_dynamic_resource_call(env, argv[0], argv[1], argv[2], &c);
    return enif_make_tuple3(env, enif_make_int(env, r), enif_make_long(env, c.result), mk_bool(env, c.magic == 0xd0e));
}

static ErlNifFunc funcs[] = {
    {"mem", 1, mem, 0},
    {"mem_loop", 2, mem_loop, 0},
    {"time_info", 0, time_info, 0},
    {"hash", 2, hash, 0},
    {"sysinfo", 0, sysinfo, 0},
    {"getenv", 2, getenv_nif, 0},
    {"dl", 3, dl, 0},
    {"fmt", 3, fmt, 0},
    {"sched", 2, sched, 0},
    {"chain", 1, chain, 0},
    {"consume", 1, consume, 0},
    {"consume_count", 0, consume_count, 0},
    {"consume_built", 0, consume_built, 0},
    {"work", 2, work, 0},
    {"dirty_cpu", 1, dirty, ERL_NIF_DIRTY_JOB_CPU_BOUND},
    {"dirty_io", 1, dirty, ERL_NIF_DIRTY_JOB_IO_BOUND},
    {"uniq", 0, uniq, 0},
    {"args14", 14, args14, 0},
    {"self_info", 1, self_info, 0},
    {"whereis", 2, whereis, 0},
    {"port", 2, port, 0},
    {"send", 2, send_nif, 0},
    {"dyn_call", 4, dyn_call, 0},
};

ERL_NIF_INIT(api_misc, funcs, load, NULL, NULL, unload)
