/* api_binmap: binaries (alloc/realloc/release, new, sub, resource-free
 * inspection, iolists), the external term format, maps and map iterators,
 * iovecs and I/O queues. */
#include <erl_nif.h>
#include <string.h>

static ERL_NIF_TERM atom_ok, atom_error, atom_true, atom_false;

static ERL_NIF_TERM mk_bool(int b) { return b ? atom_true : atom_false; }

static int load(ErlNifEnv* env, void** priv, ERL_NIF_TERM info) {
    (void)info;
    atom_ok = enif_make_atom(env, "ok");
    atom_error = enif_make_atom(env, "error");
    atom_true = enif_make_atom(env, "true");
    atom_false = enif_make_atom(env, "false");
    *priv = NULL;
    return 0;
}

static unsigned long sum_bytes(const unsigned char* p, size_t n) {
    unsigned long s = 0;
    size_t i;
    for (i = 0; i < n; i++) s = s * 31 + p[i];
    return s;
}

/* bins(Size) -> {Made, New, Sub, {SubSize, SubHash}} */
static ERL_NIF_TERM bins(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    unsigned size, i;
    ErlNifBinary b, sb;
    ERL_NIF_TERM made, newt, sub;
    unsigned char* nd;
    (void)argc;
    if (!enif_get_uint(env, argv[0], &size) || size < 4 || size > (1u << 24))
        return enif_make_badarg(env);
    if (!enif_alloc_binary(size, &b)) return enif_make_badarg(env);
    for (i = 0; i < size; i++) b.data[i] = (unsigned char)(i & 255);
    if (!enif_realloc_binary(&b, size * 2)) {
        enif_release_binary(&b);
        return enif_make_badarg(env);
    }
    for (i = size; i < size * 2; i++) b.data[i] = 0xAA;
    made = enif_make_binary(env, &b);
    nd = enif_make_new_binary(env, 5, &newt);
    memcpy(nd, "hello", 5);
    sub = enif_make_sub_binary(env, made, size - 2, 4);
    if (!enif_inspect_binary(env, sub, &sb)) return enif_make_badarg(env);
    return enif_make_tuple4(env, made, newt, sub,
        enif_make_tuple2(env, enif_make_uint64(env, sb.size), enif_make_ulong(env, sum_bytes(sb.data, sb.size))));
}

/* release_loop(N, Size): alloc, grow, shrink and release N binaries. */
static ERL_NIF_TERM release_loop(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    unsigned n, size, i;
    ErlNifBinary b;
    unsigned long acc = 0;
    (void)argc;
    if (!enif_get_uint(env, argv[0], &n) || !enif_get_uint(env, argv[1], &size) || size < 2)
        return enif_make_badarg(env);
    for (i = 0; i < n; i++) {
        if (!enif_alloc_binary(size, &b)) return enif_make_badarg(env);
        memset(b.data, (int)(i & 255), size);
        if (!enif_realloc_binary(&b, size / 2)) return enif_make_badarg(env);
        acc += b.data[size / 2 - 1] + b.size;
        enif_release_binary(&b);
    }
    return enif_make_ulong(env, acc);
}

/* chunks(N, Size, Shrink) -> [binary()]: N binaries as an encoder makes them
 * (jiffy): alloc Size bytes, fill, shrink by Shrink, make; each term built
 * after the last, in reverse order. Chunk i holds bytes (i + j) & 255. */
static ERL_NIF_TERM chunks(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    unsigned n, size, shrink, i, j;
    ErlNifBinary b;
    ERL_NIF_TERM list = enif_make_list(env, 0);
    (void)argc;
    if (!enif_get_uint(env, argv[0], &n) || !enif_get_uint(env, argv[1], &size) ||
        !enif_get_uint(env, argv[2], &shrink) || shrink > size || size > (1u << 24))
        return enif_make_badarg(env);
    for (i = 0; i < n; i++) {
        if (!enif_alloc_binary(size, &b)) return enif_make_badarg(env);
        for (j = 0; j < size; j++) b.data[j] = (unsigned char)((i + j) & 255);
        if (!enif_realloc_binary(&b, size - shrink)) {
            enif_release_binary(&b);
            return enif_make_badarg(env);
        }
        if (b.size != size - shrink) return enif_make_badarg(env);
        list = enif_make_list_cell(env, enif_make_binary(env, &b), list);
    }
    return list;
}

/* inspect(T) -> {IsBinary, {Size, Hash} | error} */
static ERL_NIF_TERM inspect(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifBinary b;
    ERL_NIF_TERM r = atom_error;
    (void)argc;
    if (enif_inspect_binary(env, argv[0], &b))
        r = enif_make_tuple2(env, enif_make_uint64(env, b.size), enif_make_ulong(env, sum_bytes(b.data, b.size)));
    return enif_make_tuple2(env, mk_bool(enif_is_binary(env, argv[0])), r);
}

/* iolist(T) -> binary copy of the flattened iolist, or badarg */
static ERL_NIF_TERM iolist(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifBinary b;
    ERL_NIF_TERM out;
    unsigned char* d;
    (void)argc;
    if (!enif_inspect_iolist_as_binary(env, argv[0], &b)) return enif_make_badarg(env);
    d = enif_make_new_binary(env, b.size, &out);
    if (b.size) memcpy(d, b.data, b.size);
    return out;
}

/* t2b(T) -> external format, as erlang:term_to_binary/1 */
static ERL_NIF_TERM t2b(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifBinary b;
    (void)argc;
    if (!enif_term_to_binary(env, argv[0], &b)) return enif_make_badarg(env);
    return enif_make_binary(env, &b);
}

/* b2t(Bin, Safe) -> {Consumed, Term} | error */
static ERL_NIF_TERM b2t(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifBinary b;
    ERL_NIF_TERM t;
    size_t n;
    (void)argc;
    if (!enif_inspect_binary(env, argv[0], &b)) return enif_make_badarg(env);
    n = enif_binary_to_term(env, b.data, b.size, &t,
                            enif_is_identical(argv[1], atom_true) ? ERL_NIF_BIN2TERM_SAFE : 0);
    if (n == 0) return atom_error;
    return enif_make_tuple2(env, enif_make_uint64(env, n), t);
}

/* map_ops(Map, K, V) -> {IsMap, Size, Get, Put, Update, Remove, FromNew} */
static ERL_NIF_TERM map_ops(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    size_t size;
    ERL_NIF_TERM m = argv[0], k = argv[1], v = argv[2], got, put, upd, rem, fresh, fresh2;
    ERL_NIF_TERM r[7];
    (void)argc;
    r[0] = mk_bool(enif_is_map(env, m));
    r[1] = enif_get_map_size(env, m, &size) ? enif_make_uint64(env, size) : atom_error;
    r[2] = enif_get_map_value(env, m, k, &got) ? enif_make_tuple2(env, atom_ok, got) : atom_error;
    r[3] = enif_make_map_put(env, m, k, v, &put) ? put : atom_error;
    r[4] = enif_make_map_update(env, m, k, v, &upd) ? upd : atom_error;
    r[5] = enif_make_map_remove(env, m, k, &rem) ? rem : atom_error;
    fresh = enif_make_new_map(env);
    if (!enif_make_map_put(env, fresh, k, v, &fresh2)) return enif_make_badarg(env);
    r[6] = fresh2;
    return enif_make_tuple_from_array(env, r, 7);
}

/* map_arrays(Keys, Values) -> {ok, Map} | error (duplicate keys) */
static ERL_NIF_TERM map_arrays(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ERL_NIF_TERM ks[64], vs[64], h, tk = argv[0], tv = argv[1], m;
    size_t nk = 0, nv = 0;
    (void)argc;
    while (nk < 64 && enif_get_list_cell(env, tk, &h, &tk)) ks[nk++] = h;
    while (nv < 64 && enif_get_list_cell(env, tv, &h, &tv)) vs[nv++] = h;
    if (!enif_is_empty_list(env, tk) || !enif_is_empty_list(env, tv) || nk != nv) return enif_make_badarg(env);
    if (!enif_make_map_from_arrays(env, ks, vs, nk, &m)) return atom_error;
    return enif_make_tuple2(env, atom_ok, m);
}

/* Walk the map one way with next (Forward) or prev (backward). */
static ERL_NIF_TERM walk(ErlNifEnv* env, ERL_NIF_TERM map, int forward) {
    ErlNifMapIterator it;
    ERL_NIF_TERM k, v, acc = enif_make_list(env, 0);
    if (!enif_map_iterator_create(env, map, &it,
            forward ? ERL_NIF_MAP_ITERATOR_FIRST : ERL_NIF_MAP_ITERATOR_LAST))
        return atom_error;
    while (enif_map_iterator_get_pair(env, &it, &k, &v)) {
        acc = enif_make_list_cell(env, enif_make_tuple2(env, k, v), acc);
        if (forward) enif_map_iterator_next(env, &it);
        else enif_map_iterator_prev(env, &it);
    }
    enif_map_iterator_destroy(env, &it);
    return acc; /* reversed: forward walk yields last-first */
}

/* map_iter(Map) -> {ForwardReversed, BackwardReversed, Probe} */
static ERL_NIF_TERM map_iter(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifMapIterator it;
    ERL_NIF_TERM k, v, probe[10];
    int i = 0;
    (void)argc;
    if (!enif_map_iterator_create(env, argv[0], &it, ERL_NIF_MAP_ITERATOR_FIRST))
        return enif_make_badarg(env);
    probe[i++] = mk_bool(enif_map_iterator_is_head(env, &it));
    probe[i++] = mk_bool(enif_map_iterator_is_tail(env, &it));
    probe[i++] = mk_bool(enif_map_iterator_prev(env, &it));
    probe[i++] = mk_bool(enif_map_iterator_is_head(env, &it));
    probe[i++] = mk_bool(enif_map_iterator_next(env, &it));
    probe[i++] = enif_map_iterator_get_pair(env, &it, &k, &v) ? enif_make_tuple2(env, k, v) : atom_error;
    enif_map_iterator_destroy(env, &it);
    if (!enif_map_iterator_create(env, argv[0], &it, ERL_NIF_MAP_ITERATOR_LAST))
        return enif_make_badarg(env);
    probe[i++] = mk_bool(enif_map_iterator_is_tail(env, &it));
    probe[i++] = mk_bool(enif_map_iterator_next(env, &it));
    probe[i++] = mk_bool(enif_map_iterator_is_tail(env, &it));
    probe[i++] = mk_bool(enif_map_iterator_get_pair(env, &it, &k, &v));
    enif_map_iterator_destroy(env, &it);
    return enif_make_tuple3(env, walk(env, argv[0], 1), walk(env, argv[0], 0),
                            enif_make_list_from_array(env, probe, (unsigned)i));
}

static ERL_NIF_TERM flatten_peek(ErlNifEnv* env, ErlNifIOQueue* q) {
    int n = 0, i;
    SysIOVec* iov = enif_ioq_peek(q, &n);
    size_t total = 0, off = 0;
    ERL_NIF_TERM out;
    unsigned char* d;
    for (i = 0; i < n; i++) total += iov[i].iov_len;
    d = enif_make_new_binary(env, total, &out);
    for (i = 0; i < n; i++) {
        memcpy(d + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    return enif_make_tuple2(env, enif_make_int(env, n), out);
}

static ERL_NIF_TERM flatten_iov(ErlNifEnv* env, const ErlNifIOVec* v) {
    ERL_NIF_TERM out;
    unsigned char* d = enif_make_new_binary(env, v->size, &out);
    size_t off = 0;
    int i;
    for (i = 0; i < v->iovcnt; i++) {
        memcpy(d + off, v->iov[i].iov_base, v->iov[i].iov_len);
        off += v->iov[i].iov_len;
    }
    return enif_make_tuple2(env, enif_make_int(env, v->iovcnt), out);
}

/* ioq(ListOfBinaries, MaxElements) ->
 *   [EnvIov, Tail, NullEnvIov, SizeAfterEnq, Peek, Head, DeqOk, SizeAfterDeq, Peek2, DeqTooMuch]
 * The env-bound iovec (caller's storage, as the manual shows) is queued
 * skipping its first byte; the NULL-env one is queued whole and freed with
 * enif_free_iovec; then a binary "XYZ" is queued. */
static ERL_NIF_TERM ioq(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifIOVec vec, *iov = &vec, *iov2 = NULL;
    ErlNifIOQueue* q;
    ErlNifBinary b;
    ERL_NIF_TERM tail, tail2, head, r[10];
    unsigned maxel;
    size_t hsize = 0, after = 0;
    int i = 0;
    (void)argc;
    if (!enif_get_uint(env, argv[1], &maxel)) return enif_make_badarg(env);
    if (!enif_inspect_iovec(env, maxel, argv[0], &tail, &iov)) return enif_make_badarg(env);
    if (!enif_inspect_iovec(NULL, maxel, argv[0], &tail2, &iov2)) return enif_make_badarg(env);
    q = enif_ioq_create(ERL_NIF_IOQ_NORMAL);
    r[i++] = flatten_iov(env, iov);
    r[i++] = tail;
    r[i++] = flatten_iov(env, iov2);
    if (iov->size > 0 && !enif_ioq_enqv(q, iov, 1)) goto fail;
    if (!enif_ioq_enqv(q, iov2, 0)) goto fail;
    enif_free_iovec(iov2);
    iov2 = NULL;
    if (!enif_alloc_binary(3, &b)) goto fail;
    memcpy(b.data, "XYZ", 3);
    if (!enif_ioq_enq_binary(q, &b, 0)) goto fail; /* the queue owns b now */
    r[i++] = enif_make_uint64(env, enif_ioq_size(q));
    r[i++] = flatten_peek(env, q);
    if (!enif_ioq_peek_head(env, q, &hsize, &head)) goto fail;
    r[i++] = enif_make_tuple2(env, enif_make_uint64(env, hsize), head);
    r[i++] = mk_bool(enif_ioq_deq(q, 2, &after));
    r[i++] = enif_make_uint64(env, after);
    r[i++] = flatten_peek(env, q);
    r[i++] = mk_bool(enif_ioq_deq(q, enif_ioq_size(q) + 1, &after));
    enif_ioq_destroy(q);
    return enif_make_list_from_array(env, r, (unsigned)i);
fail:
    enif_ioq_destroy(q);
    if (iov2) enif_free_iovec(iov2);
    return enif_make_badarg(env);
}

static ErlNifFunc funcs[] = {
    {"bins", 1, bins, 0},
    {"release_loop", 2, release_loop, 0},
    {"chunks", 3, chunks, 0},
    {"inspect", 1, inspect, 0},
    {"iolist", 1, iolist, 0},
    {"t2b", 1, t2b, 0},
    {"b2t", 2, b2t, 0},
    {"map_ops", 3, map_ops, 0},
    {"map_arrays", 2, map_arrays, 0},
    {"map_iter", 1, map_iter, 0},
    {"ioq", 2, ioq, 0},
};

ERL_NIF_INIT(api_binmap, funcs, load, NULL, NULL, NULL)
