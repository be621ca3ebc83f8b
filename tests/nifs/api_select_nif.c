/* api_select: enif_select and enif_select_x on a pipe and on an eventfd
 * owned by a resource: read/write readiness messages, custom messages,
 * cancel, stop with the stop callback (which closes the fd and tells the
 * owner), and failures on a bad fd. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <erl_nif.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef struct {
    int rfd, wfd, is_eventfd, stops;
    ErlNifPid owner;
} fdres_t;

static ErlNifResourceType* fd_type;
static long dtor_calls;

static ERL_NIF_TERM mk_atom(ErlNifEnv* env, const char* a) { return enif_make_atom(env, a); }

static void fd_stop(ErlNifEnv* env, void* obj, ErlNifEvent ev, int is_direct_call) {
    fdres_t* r = obj;
    ErlNifEnv* menv = enif_alloc_env();
    const char* which = "other";
    (void)is_direct_call;
    r->stops++;
    if (ev == r->rfd && ev == r->wfd) which = "both";
    else if (ev == r->rfd) which = "read";
    else if (ev == r->wfd) which = "write";
    if (ev == r->rfd) r->rfd = -1;
    if (ev == r->wfd) r->wfd = -1;
    close(ev);
    enif_send(env, &r->owner, menv,
              enif_make_tuple3(menv, mk_atom(menv, "api_stop"), mk_atom(menv, which), enif_make_int(menv, r->stops)));
    enif_free_env(menv);
}

static void fd_dtor(ErlNifEnv* env, void* obj) {
    fdres_t* r = obj;
    (void)env;
    if (r->rfd >= 0) close(r->rfd);
    if (r->wfd >= 0 && r->wfd != r->rfd) close(r->wfd);
    __atomic_add_fetch(&dtor_calls, 1, __ATOMIC_SEQ_CST);
}

static int load(ErlNifEnv* env, void** priv, ERL_NIF_TERM info) {
    ErlNifResourceTypeInit init = {fd_dtor, fd_stop, NULL, 3, NULL};
    (void)info;
    fd_type = enif_open_resource_type_x(env, "api_fd", &init, ERL_NIF_RT_CREATE, NULL);
    *priv = NULL;
    return fd_type ? 0 : 1;
}

static ERL_NIF_TERM decode(ErlNifEnv* env, int r) {
    static const struct { int bit; const char* name; } bits[] = {
        {ERL_NIF_SELECT_STOP_CALLED, "stop_called"}, {ERL_NIF_SELECT_STOP_SCHEDULED, "stop_scheduled"},
        {ERL_NIF_SELECT_INVALID_EVENT, "invalid_event"}, {ERL_NIF_SELECT_FAILED, "failed"},
        {ERL_NIF_SELECT_READ_CANCELLED, "read_cancelled"}, {ERL_NIF_SELECT_WRITE_CANCELLED, "write_cancelled"},
        {ERL_NIF_SELECT_ERROR_CANCELLED, "error_cancelled"}, {ERL_NIF_SELECT_NOTSUP, "notsup"}};
    ERL_NIF_TERM l = enif_make_list(env, 0);
    int i;
    for (i = (int)(sizeof bits / sizeof bits[0]) - 1; i >= 0; i--)
        if (r & bits[i].bit) l = enif_make_list_cell(env, mk_atom(env, bits[i].name), l);
    return enif_make_tuple2(env, mk_atom(env, r < 0 ? "error" : "ok"), l);
}

static int get_res(ErlNifEnv* env, ERL_NIF_TERM t, fdres_t** r) {
    return enif_get_resource(env, t, fd_type, (void**)r);
}

/* open(pipe | eventfd) -> R, owned by the caller */
static ERL_NIF_TERM open_nif(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    fdres_t* r;
    int fds[2];
    ERL_NIF_TERM t;
    (void)argc;
    if (enif_is_identical(argv[0], mk_atom(env, "pipe"))) {
        if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return enif_make_badarg(env);
    } else if (enif_is_identical(argv[0], mk_atom(env, "eventfd"))) {
        fds[0] = fds[1] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fds[0] < 0) return enif_make_badarg(env);
    } else {
        return enif_make_badarg(env);
    }
    r = enif_alloc_resource(fd_type, sizeof *r);
    r->rfd = fds[0];
    r->wfd = fds[1];
    r->is_eventfd = fds[0] == fds[1];
    r->stops = 0;
    enif_self(env, &r->owner);
    t = enif_make_resource(env, r);
    enif_release_resource(r);
    return t;
}

/* select(R, read | write, Mode, Ref, Pid | self) with Mode one of
 * read, write, cancel_read, cancel_write, stop -> {ok | error, [Flag]} */
static ERL_NIF_TERM select_nif(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    fdres_t* r;
    ErlNifPid pid, *pp = NULL;
    int fd, flags;
    (void)argc;
    if (!get_res(env, argv[0], &r)) return enif_make_badarg(env);
    fd = enif_is_identical(argv[1], mk_atom(env, "write")) ? r->wfd : r->rfd;
    if (enif_is_identical(argv[2], mk_atom(env, "read"))) flags = ERL_NIF_SELECT_READ;
    else if (enif_is_identical(argv[2], mk_atom(env, "write"))) flags = ERL_NIF_SELECT_WRITE;
    else if (enif_is_identical(argv[2], mk_atom(env, "cancel_read"))) flags = ERL_NIF_SELECT_CANCEL | ERL_NIF_SELECT_READ;
    else if (enif_is_identical(argv[2], mk_atom(env, "cancel_write"))) flags = ERL_NIF_SELECT_CANCEL | ERL_NIF_SELECT_WRITE;
    else if (enif_is_identical(argv[2], mk_atom(env, "stop"))) flags = ERL_NIF_SELECT_STOP;
    else return enif_make_badarg(env);
    if (enif_get_local_pid(env, argv[4], &pid)) pp = &pid;
    return decode(env, enif_select(env, fd, (enum ErlNifSelectFlags)flags, r, pp, argv[3]));
}

/* select_x(R, Msg, UseMsgEnv) -> result; Msg arrives as is when readable */
static ERL_NIF_TERM select_x(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    fdres_t* r;
    ErlNifEnv* menv = NULL;
    ERL_NIF_TERM msg = argv[1];
    int ret;
    (void)argc;
    if (!get_res(env, argv[0], &r)) return enif_make_badarg(env);
    if (enif_is_identical(argv[2], mk_atom(env, "true"))) {
        menv = enif_alloc_env();
        msg = enif_make_copy(menv, argv[1]);
    }
    ret = enif_select_x(env, r->rfd, ERL_NIF_SELECT_READ | ERL_NIF_SELECT_CUSTOM_MSG, r, NULL, msg, menv);
    if (menv) enif_free_env(menv);
    return decode(env, ret);
}

/* bad_fd(Ref) -> result of selecting fd -1 */
static ERL_NIF_TERM bad_fd(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    fdres_t* r = enif_alloc_resource(fd_type, sizeof *r);
    int ret;
    (void)argc;
    r->rfd = r->wfd = -1;
    r->stops = 0;
    enif_self(env, &r->owner);
    ret = enif_select(env, -1, ERL_NIF_SELECT_READ, r, NULL, argv[0]);
    enif_release_resource(r);
    return decode(env, ret);
}

/* write(R, Bin) -> bytes written (eventfd: adds byte_size(Bin) to the counter) */
static ERL_NIF_TERM write_nif(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    fdres_t* r;
    ErlNifBinary b;
    ssize_t n;
    (void)argc;
    if (!get_res(env, argv[0], &r) || !enif_inspect_binary(env, argv[1], &b) || r->wfd < 0)
        return enif_make_badarg(env);
    if (r->is_eventfd) {
        uint64_t v = b.size;
        n = write(r->wfd, &v, sizeof v);
    } else {
        n = write(r->wfd, b.data, b.size);
    }
    return enif_make_long(env, (long)n);
}

/* read(R) -> Bin | Counter | eagain */
static ERL_NIF_TERM read_nif(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    fdres_t* r;
    unsigned char buf[256];
    ssize_t n;
    ERL_NIF_TERM out;
    (void)argc;
    if (!get_res(env, argv[0], &r) || r->rfd < 0) return enif_make_badarg(env);
    if (r->is_eventfd) {
        uint64_t v;
        n = read(r->rfd, &v, sizeof v);
        if (n != (ssize_t)sizeof v) return mk_atom(env, errno == EAGAIN ? "eagain" : "error");
        return enif_make_uint64(env, v);
    }
    n = read(r->rfd, buf, sizeof buf);
    if (n < 0) return mk_atom(env, errno == EAGAIN ? "eagain" : "error");
    memcpy(enif_make_new_binary(env, (size_t)n, &out), buf, (size_t)n);
    return out;
}

/* state(R) -> {Stops, ReadOpen, WriteOpen}; dtors() -> count */
static ERL_NIF_TERM state(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    fdres_t* r;
    (void)argc;
    if (!get_res(env, argv[0], &r)) return enif_make_badarg(env);
    return enif_make_tuple3(env, enif_make_int(env, r->stops), mk_atom(env, r->rfd >= 0 ? "true" : "false"),
                            mk_atom(env, r->wfd >= 0 ? "true" : "false"));
}

static ERL_NIF_TERM dtors(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    (void)argc; (void)argv;
    return enif_make_long(env, __atomic_load_n(&dtor_calls, __ATOMIC_SEQ_CST));
}

static ErlNifFunc funcs[] = {
    {"open", 1, open_nif, 0},
    {"select", 5, select_nif, 0},
    {"select_x", 3, select_x, 0},
    {"bad_fd", 1, bad_fd, 0},
    {"write", 2, write_nif, 0},
    {"read", 1, read_nif, 0},
    {"state", 1, state, 0},
    {"dtors", 0, dtors, 0},
};

ERL_NIF_INIT(api_select, funcs, load, NULL, NULL, NULL)
