/* api_threads: threads (create with options, join, exit value, self,
 * equal_tids, names, thread_type), mutexes, condition variables, rwlocks,
 * thread-specific data, and enif_send from a created thread through a
 * process-independent environment. Every NIF joins the threads it starts
 * before returning, so each result is deterministic. */
#include <erl_nif.h>
#include <string.h>

static ERL_NIF_TERM mk_bool(ErlNifEnv* env, int b) {
    return enif_make_atom(env, b ? "true" : "false");
}

static ERL_NIF_TERM type_atom(ErlNifEnv* env, int t) {
    switch (t) {
    case ERL_NIF_THR_UNDEFINED: return enif_make_atom(env, "undefined");
    case ERL_NIF_THR_NORMAL_SCHEDULER: return enif_make_atom(env, "normal");
    case ERL_NIF_THR_DIRTY_CPU_SCHEDULER: return enif_make_atom(env, "dirty_cpu");
    case ERL_NIF_THR_DIRTY_IO_SCHEDULER: return enif_make_atom(env, "dirty_io");
    default: return enif_make_atom(env, "unknown");
    }
}

/* A name without its leading instance number ("2_scheduler" -> "scheduler"). */
static ERL_NIF_TERM name_term(ErlNifEnv* env, const char* name) {
    if (!name) return enif_make_atom(env, "null");
    while (*name >= '0' && *name <= '9') name++;
    if (*name == '_') name++;
    return enif_make_string(env, name, ERL_NIF_LATIN1);
}

/* thread_type() -> {Type, NameOfThisThread}; also registered dirty. */
static ERL_NIF_TERM thread_type(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    (void)argc; (void)argv;
    return enif_make_tuple2(env, type_atom(env, enif_thread_type()),
                            name_term(env, enif_thread_name(enif_thread_self())));
}

typedef struct {
    long n, sum, exitval;
    int type;
    char name[64];
    ErlNifTid self;
} basic_arg;

static void finish(basic_arg* a) {
    a->exitval = a->sum * 2;
    enif_thread_exit(&a->exitval); /* does not return */
}

static void* basic_main(void* p) {
    basic_arg* a = p;
    const char* nm;
    long i;
    a->self = enif_thread_self();
    a->type = enif_thread_type();
    nm = enif_thread_name(a->self);
    strncpy(a->name, nm ? nm : "(null)", sizeof a->name - 1);
    for (i = 1; i <= a->n; i++) a->sum += i;
    finish(a);
    return NULL;
}

/* basic(N) -> {CreateRet, JoinRet, Sum, ExitValue, Type, Name, EqualToOwnSelf, EqualToCaller} */
static ERL_NIF_TERM basic(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    basic_arg a;
    ErlNifTid tid;
    ErlNifThreadOpts* opts;
    void* res = NULL;
    int cr, jr, caller_equal;
    ERL_NIF_TERM r[8];
    (void)argc;
    memset(&a, 0, sizeof a);
    if (!enif_get_long(env, argv[0], &a.n)) return enif_make_badarg(env);
    opts = enif_thread_opts_create("api_opts");
    opts->suggested_stack_size = 128;
    cr = enif_thread_create("api_basic", &tid, basic_main, &a, opts);
    enif_thread_opts_destroy(opts);
    if (cr != 0) return enif_make_tuple2(env, enif_make_atom(env, "create_failed"), enif_make_int(env, cr));
    /* Compared while the thread lives: after the join ERTS may reuse its
     * thread record for another, and a later comparison is up to chance. */
    caller_equal = enif_equal_tids(tid, enif_thread_self());
    jr = enif_thread_join(tid, &res);
    r[0] = enif_make_int(env, cr);
    r[1] = enif_make_int(env, jr);
    r[2] = enif_make_long(env, a.sum);
    r[3] = res == &a.exitval ? enif_make_long(env, *(long*)res) : enif_make_atom(env, "bad_exit_value");
    r[4] = type_atom(env, a.type);
    r[5] = enif_make_string(env, a.name, ERL_NIF_LATIN1);
    r[6] = mk_bool(env, enif_equal_tids(tid, a.self));
    r[7] = mk_bool(env, caller_equal);
    return enif_make_tuple_from_array(env, r, 8);
}

typedef struct {
    ErlNifMutex* m;
    ErlNifCond* c;
    ErlNifRWLock* rw;
    long counter, sum;
    int iters, available, done, next, count, res[4], bad;
} shared_t;

static void* try_mutex(void* p) {
    shared_t* s = p;
    s->res[0] = enif_mutex_trylock(s->m);
    if (s->res[0] == 0) enif_mutex_unlock(s->m);
    return NULL;
}

static void* inc_mutex(void* p) {
    shared_t* s = p;
    int i;
    for (i = 0; i < s->iters; i++) {
        enif_mutex_lock(s->m);
        s->counter++;
        enif_mutex_unlock(s->m);
    }
    return NULL;
}

#define MAXT 16

static int run_threads(const char* name, int n, void* (*f)(void*), void* arg) {
    ErlNifTid t[MAXT];
    int i, ok = 0;
    for (i = 0; i < n; i++)
        if (enif_thread_create((char*)name, &t[i], f, arg, NULL) != 0) break;
    ok = i;
    for (i = 0; i < ok; i++) enif_thread_join(t[i], NULL);
    return ok;
}

/* mutex(Threads, Iters) -> {Name, TrylockWhileHeldFails, TrylockWhenFree, Counter} */
static ERL_NIF_TERM mutex(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    shared_t s;
    int n, freetry;
    ERL_NIF_TERM name;
    (void)argc;
    memset(&s, 0, sizeof s);
    if (!enif_get_int(env, argv[0], &n) || n < 1 || n > MAXT || !enif_get_int(env, argv[1], &s.iters))
        return enif_make_badarg(env);
    s.m = enif_mutex_create("api_mutex");
    name = name_term(env, enif_mutex_name(s.m));
    enif_mutex_lock(s.m);
    run_threads("api_try", 1, try_mutex, &s);
    enif_mutex_unlock(s.m);
    freetry = enif_mutex_trylock(s.m);
    if (freetry == 0) enif_mutex_unlock(s.m);
    run_threads("api_inc", n, inc_mutex, &s);
    enif_mutex_destroy(s.m);
    return enif_make_tuple4(env, name, mk_bool(env, s.res[0] != 0), mk_bool(env, freetry == 0),
                            enif_make_long(env, s.counter));
}

static void* consumer(void* p) {
    shared_t* s = p;
    enif_mutex_lock(s->m);
    for (;;) {
        while (s->available == 0 && !s->done) enif_cond_wait(s->c, s->m);
        if (s->available > 0) {
            s->available--;
            s->sum += ++s->next;
            s->count++;
        } else if (s->done) {
            break;
        }
    }
    enif_mutex_unlock(s->m);
    return NULL;
}

/* condvar(Consumers, Items) -> {Name, SumOfItems, ItemsConsumed, ConsumersJoined} */
static ERL_NIF_TERM cond(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    shared_t s;
    ErlNifTid t[MAXT];
    int n, items, i, started;
    ERL_NIF_TERM name;
    (void)argc;
    memset(&s, 0, sizeof s);
    if (!enif_get_int(env, argv[0], &n) || n < 1 || n > MAXT || !enif_get_int(env, argv[1], &items))
        return enif_make_badarg(env);
    s.m = enif_mutex_create("api_cond_mutex");
    s.c = enif_cond_create("api_cond");
    name = name_term(env, enif_cond_name(s.c));
    for (started = 0; started < n; started++)
        if (enif_thread_create("api_consumer", &t[started], consumer, &s, NULL) != 0) break;
    for (i = 0; i < items; i++) {
        enif_mutex_lock(s.m);
        s.available++;
        enif_cond_signal(s.c);
        enif_mutex_unlock(s.m);
    }
    enif_mutex_lock(s.m);
    s.done = 1;
    enif_cond_broadcast(s.c);
    enif_mutex_unlock(s.m);
    for (i = 0; i < started; i++) enif_thread_join(t[i], NULL);
    enif_cond_destroy(s.c);
    enif_mutex_destroy(s.m);
    return enif_make_tuple4(env, name, enif_make_long(env, s.sum), enif_make_int(env, s.count),
                            enif_make_int(env, started));
}

static void* try_read_locked(void* p) { /* the lock is read-held by the caller */
    shared_t* s = p;
    s->res[0] = enif_rwlock_tryrlock(s->rw);
    if (s->res[0] == 0) enif_rwlock_runlock(s->rw);
    s->res[1] = enif_rwlock_tryrwlock(s->rw);
    if (s->res[1] == 0) enif_rwlock_rwunlock(s->rw);
    return NULL;
}

static void* try_write_locked(void* p) { /* the lock is write-held by the caller */
    shared_t* s = p;
    s->res[2] = enif_rwlock_tryrlock(s->rw);
    if (s->res[2] == 0) enif_rwlock_runlock(s->rw);
    s->res[3] = enif_rwlock_tryrwlock(s->rw);
    if (s->res[3] == 0) enif_rwlock_rwunlock(s->rw);
    return NULL;
}

static void* rw_worker(void* p) {
    shared_t* s = p;
    int i, writer;
    enif_mutex_lock(s->m);
    writer = (s->next++) % 2 == 0;
    enif_mutex_unlock(s->m);
    for (i = 0; i < s->iters; i++) {
        if (writer) {
            enif_rwlock_rwlock(s->rw);
            s->counter++;
            s->sum += s->counter; /* writers see a consistent counter */
            enif_rwlock_rwunlock(s->rw);
        } else {
            long a, b;
            enif_rwlock_rlock(s->rw);
            a = s->counter;
            b = s->counter;
            enif_rwlock_runlock(s->rw);
            if (a != b) __atomic_add_fetch(&s->bad, 1, __ATOMIC_SEQ_CST);
        }
    }
    return NULL;
}

/* rwlock(Threads, Iters) -> {Name, [TryRead|ReadHeld, TryWrite|ReadHeld,
 *   TryRead|WriteHeld, TryWrite|WriteHeld] (true = acquired), Counter, Sum, Bad} */
static ERL_NIF_TERM rwlock(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    shared_t s;
    int n;
    ERL_NIF_TERM name;
    (void)argc;
    memset(&s, 0, sizeof s);
    if (!enif_get_int(env, argv[0], &n) || n < 1 || n > MAXT || !enif_get_int(env, argv[1], &s.iters))
        return enif_make_badarg(env);
    s.rw = enif_rwlock_create("api_rwlock");
    s.m = enif_mutex_create("api_rw_mutex");
    name = name_term(env, enif_rwlock_name(s.rw));
    enif_rwlock_rlock(s.rw);
    run_threads("api_rtry", 1, try_read_locked, &s);
    enif_rwlock_runlock(s.rw);
    enif_rwlock_rwlock(s.rw);
    run_threads("api_wtry", 1, try_write_locked, &s);
    enif_rwlock_rwunlock(s.rw);
    run_threads("api_rw", n, rw_worker, &s);
    enif_mutex_destroy(s.m);
    enif_rwlock_destroy(s.rw);
    return enif_make_tuple5(env, name,
        enif_make_list4(env, mk_bool(env, s.res[0] == 0), mk_bool(env, s.res[1] == 0),
                        mk_bool(env, s.res[2] == 0), mk_bool(env, s.res[3] == 0)),
        enif_make_long(env, s.counter), enif_make_long(env, s.sum), enif_make_int(env, s.bad));
}

static ErlNifTSDKey tsd_key;
typedef struct {
    int before_null, own;
    long mine;
} tsd_arg;

static void* tsd_thread(void* p) {
    tsd_arg* a = p;
    a->before_null = enif_tsd_get(tsd_key) == NULL;
    enif_tsd_set(tsd_key, &a->mine);
    a->own = enif_tsd_get(tsd_key) == &a->mine;
    return NULL;
}

/* tsd(Threads) -> {CreateRet, AllThreadsSawNullFirst, AllThreadsSawOwn, MainSawOwn} */
static ERL_NIF_TERM tsd(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    tsd_arg a[MAXT];
    ErlNifTid t[MAXT];
    long mine = 7;
    int n, i, cr, started, nulls = 1, owns = 1, main_own;
    (void)argc;
    if (!enif_get_int(env, argv[0], &n) || n < 1 || n > MAXT) return enif_make_badarg(env);
    cr = enif_tsd_key_create("api_tsd", &tsd_key);
    if (cr != 0) return enif_make_tuple2(env, enif_make_int(env, cr), enif_make_atom(env, "failed"));
    enif_tsd_set(tsd_key, &mine);
    memset(a, 0, sizeof a);
    for (started = 0; started < n; started++)
        if (enif_thread_create("api_tsd", &t[started], tsd_thread, &a[started], NULL) != 0) break;
    for (i = 0; i < started; i++) {
        enif_thread_join(t[i], NULL);
        nulls &= a[i].before_null;
        owns &= a[i].own;
    }
    main_own = enif_tsd_get(tsd_key) == &mine;
    enif_tsd_set(tsd_key, NULL);
    enif_tsd_key_destroy(tsd_key);
    return enif_make_tuple4(env, enif_make_int(env, cr), mk_bool(env, nulls && started == n),
                            mk_bool(env, owns), mk_bool(env, main_own));
}

typedef struct {
    ErlNifPid to, dead;
    ErlNifEnv* penv;     /* holds the payload, read only by the thread */
    ERL_NIF_TERM payload;
    int n, sent, dead_result, type;
} send_arg;

static void* sender(void* p) {
    send_arg* a = p;
    ErlNifEnv* env = enif_alloc_env();
    int i;
    a->type = enif_thread_type();
    for (i = 0; i < a->n; i++) {
        ERL_NIF_TERM msg = enif_make_tuple3(env, enif_make_atom(env, "api_thread_msg"),
                                            enif_make_int(env, i), enif_make_copy(env, a->payload));
        if (enif_send(NULL, &a->to, env, msg)) a->sent++;
        enif_clear_env(env);
    }
    a->dead_result = enif_send(NULL, &a->dead, env, enif_make_atom(env, "lost"));
    enif_free_env(env);
    return NULL;
}

/* send_from_thread(Pid, DeadPid, N, Payload) -> {Sent, SendToDeadResult, ThreadType};
 * Pid then holds N messages {api_thread_msg, I, Payload}, in order. */
static ERL_NIF_TERM send_from_thread(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    send_arg a;
    ErlNifTid t;
    (void)argc;
    memset(&a, 0, sizeof a);
    if (!enif_get_local_pid(env, argv[0], &a.to) || !enif_get_local_pid(env, argv[1], &a.dead) ||
        !enif_get_int(env, argv[2], &a.n))
        return enif_make_badarg(env);
    a.penv = enif_alloc_env();
    a.payload = enif_make_copy(a.penv, argv[3]);
    if (enif_thread_create("api_sender", &t, sender, &a, NULL) != 0) {
        enif_free_env(a.penv);
        return enif_make_badarg(env);
    }
    enif_thread_join(t, NULL);
    enif_free_env(a.penv);
    return enif_make_tuple3(env, enif_make_int(env, a.sent), mk_bool(env, a.dead_result),
                            type_atom(env, a.type));
}

static ErlNifFunc funcs[] = {
    {"thread_type", 0, thread_type, 0},
    {"thread_type_dirty_cpu", 0, thread_type, ERL_NIF_DIRTY_JOB_CPU_BOUND},
    {"thread_type_dirty_io", 0, thread_type, ERL_NIF_DIRTY_JOB_IO_BOUND},
    {"basic", 1, basic, 0},
    {"mutex", 2, mutex, 0},
    {"condvar", 2, cond, 0},
    {"rwlock", 2, rwlock, 0},
    {"tsd", 1, tsd, 0},
    {"send_from_thread", 4, send_from_thread, 0},
};

ERL_NIF_INIT(api_threads, funcs, NULL, NULL, NULL, NULL)
