/* api_terms: the term-level enif API -- numbers, atoms, strings, lists,
 * tuples, type tests, comparison, copying between environments and
 * exceptions. Every function returns what it saw, so the Erlang side
 * (tests/erlang/api_cases.erl) compares the results of a native and an
 * isolated run byte for byte. */
#include <erl_nif.h>
#include <limits.h>
#include <string.h>

static ERL_NIF_TERM atom_ok, atom_error, atom_true, atom_false;

static ERL_NIF_TERM mk_bool(int b) { return b ? atom_true : atom_false; }

static ERL_NIF_TERM ok_or_error(ErlNifEnv* env, int ok, ERL_NIF_TERM v) {
    return ok ? enif_make_tuple2(env, atom_ok, v) : atom_error;
}

static int load(ErlNifEnv* env, void** priv, ERL_NIF_TERM info) {
    int tag;
    if (!enif_get_int(env, info, &tag)) return 1;
    atom_ok = enif_make_atom(env, "ok");
    atom_error = enif_make_atom(env, "error");
    atom_true = enif_make_atom(env, "true");
    atom_false = enif_make_atom(env, "false");
    *priv = NULL;
    return 0;
}

static int upgrade(ErlNifEnv* env, void** priv, void** old_priv, ERL_NIF_TERM info) {
    (void)old_priv;
    return load(env, priv, info);
}

/* ints(T) -> {Int, UInt, Long, ULong, Int64, UInt64, Double}, each {ok, V} or error. */
static ERL_NIF_TERM ints(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    int i; unsigned u; long l; unsigned long ul; ErlNifSInt64 i64; ErlNifUInt64 u64; double d;
    ERL_NIF_TERM r[7];
    (void)argc;
    r[0] = enif_get_int(env, argv[0], &i) ? ok_or_error(env, 1, enif_make_int(env, i)) : atom_error;
    r[1] = enif_get_uint(env, argv[0], &u) ? ok_or_error(env, 1, enif_make_uint(env, u)) : atom_error;
    r[2] = enif_get_long(env, argv[0], &l) ? ok_or_error(env, 1, enif_make_long(env, l)) : atom_error;
    r[3] = enif_get_ulong(env, argv[0], &ul) ? ok_or_error(env, 1, enif_make_ulong(env, ul)) : atom_error;
    r[4] = enif_get_int64(env, argv[0], &i64) ? ok_or_error(env, 1, enif_make_int64(env, i64)) : atom_error;
    r[5] = enif_get_uint64(env, argv[0], &u64) ? ok_or_error(env, 1, enif_make_uint64(env, u64)) : atom_error;
    if (enif_get_double(env, argv[0], &d))
        r[6] = enif_make_tuple2(env, atom_ok, enif_make_double(env, d * 2.0));
    else
        r[6] = atom_error;
    return enif_make_tuple_from_array(env, r, 7);
}

/* make_nums() -> the extremes of every integer constructor. */
static ERL_NIF_TERM make_nums(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    (void)argc; (void)argv;
    return enif_make_list(env, 9,
        enif_make_int(env, INT_MIN), enif_make_int(env, INT_MAX),
        enif_make_uint(env, UINT_MAX), enif_make_long(env, LONG_MIN),
        enif_make_ulong(env, ULONG_MAX), enif_make_int64(env, -1234567890123LL),
        enif_make_uint64(env, 18446744073709551615ULL), enif_make_double(env, -0.5),
        enif_make_double(env, 1.0e300));
}

/* make_double(Which): 0 -> +inf, 1 -> nan, other -> 2.5. Non-finite doubles raise badarg. */
static ERL_NIF_TERM make_double(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    int which;
    double z = 0.0;
    (void)argc;
    if (!enif_get_int(env, argv[0], &which)) return enif_make_badarg(env);
    if (which == 0) return enif_make_double(env, 1.0 / z);
    if (which == 1) return enif_make_double(env, z / z);
    return enif_make_double(env, 2.5);
}

/* atoms(NameBin, Create) -> {ExistingLen, ExistingNul} looked up before
 * anything is made, then (Create =:= true) {MadeLen, MadeNul}. */
static ERL_NIF_TERM atoms(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifBinary bin;
    char buf[300];
    ERL_NIF_TERM a1, a2, e1 = 0, e2 = 0;
    int x1, x2;
    (void)argc;
    if (!enif_inspect_binary(env, argv[0], &bin) || bin.size >= sizeof buf)
        return enif_make_badarg(env);
    memcpy(buf, bin.data, bin.size);
    buf[bin.size] = 0;
    /* look up first: making the atom would make it exist */
    x1 = enif_make_existing_atom_len(env, buf, bin.size, &e1, ERL_NIF_LATIN1);
    x2 = enif_make_existing_atom(env, buf, &e2, ERL_NIF_LATIN1);
    if (enif_is_identical(argv[1], atom_true)) {
        a1 = enif_make_atom_len(env, buf, bin.size);
        a2 = enif_make_atom(env, buf);
    } else {
        a1 = a2 = atom_false;
    }
    return enif_make_tuple4(env, ok_or_error(env, x1, e1), ok_or_error(env, x2, e2), a1, a2);
}

/* atom_info(Atom) -> {Len, NameAsString, SmallBufferResult, ExactBufferResult} */
static ERL_NIF_TERM atom_info(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    unsigned len;
    char buf[300], small[4];
    int n, s, exact;
    (void)argc;
    if (!enif_is_atom(env, argv[0])) return enif_make_badarg(env);
    if (!enif_get_atom_length(env, argv[0], &len, ERL_NIF_LATIN1)) return enif_make_badarg(env);
    n = enif_get_atom(env, argv[0], buf, sizeof buf, ERL_NIF_LATIN1);
    s = enif_get_atom(env, argv[0], small, sizeof small, ERL_NIF_LATIN1);
    exact = enif_get_atom(env, argv[0], buf, len + 1, ERL_NIF_LATIN1);
    return enif_make_tuple4(env, enif_make_uint(env, len),
        enif_make_tuple2(env, enif_make_int(env, n), enif_make_string(env, buf, ERL_NIF_LATIN1)),
        enif_make_int(env, s), enif_make_int(env, exact));
}

/* strings(Term) -> {BigBuf, SmallBuf, MadeFull, MadeLen2} */
static ERL_NIF_TERM strings(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    char big[256], small[4];
    int nb, ns;
    ERL_NIF_TERM rb, rs;
    (void)argc;
    nb = enif_get_string(env, argv[0], big, sizeof big, ERL_NIF_LATIN1);
    ns = enif_get_string(env, argv[0], small, sizeof small, ERL_NIF_LATIN1);
    rb = nb > 0 ? enif_make_string(env, big, ERL_NIF_LATIN1) : atom_error;
    rs = ns != 0 ? enif_make_string(env, small, ERL_NIF_LATIN1) : atom_error;
    return enif_make_tuple4(env,
        enif_make_tuple2(env, enif_make_int(env, nb), rb),
        enif_make_tuple2(env, enif_make_int(env, ns), rs),
        enif_make_string(env, "made\001\377", ERL_NIF_LATIN1),
        enif_make_string_len(env, "ab\0cd", 5, ERL_NIF_LATIN1));
}

/* lists(T) -> {IsList, IsEmpty, Length|error, SumOfIntHeads, Reversed|error, Rebuilt, Improper} */
static ERL_NIF_TERM lists(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    unsigned len = 0;
    int haslen, x;
    long sum = 0, v;
    ERL_NIF_TERM head, tail = argv[0], rev, items[64];
    unsigned n = 0;
    (void)argc;
    haslen = enif_get_list_length(env, argv[0], &len);
    while (enif_get_list_cell(env, tail, &head, &tail)) {
        if (enif_get_long(env, head, &v)) sum += v;
        if (n < 64) items[n++] = head;
    }
    x = enif_make_reverse_list(env, argv[0], &rev);
    return enif_make_list(env, 7,
        mk_bool(enif_is_list(env, argv[0])),
        mk_bool(enif_is_empty_list(env, argv[0])),
        haslen ? enif_make_uint(env, len) : atom_error,
        enif_make_long(env, sum),
        x ? rev : atom_error,
        enif_make_list_from_array(env, items, n),
        enif_make_list_cell(env, enif_make_int(env, 1),
            enif_make_list_cell(env, enif_make_int(env, 2), tail)));
}

/* tuples(T) -> {Arity, Reversed, Varargs, Inline2..9} or badarg */
static ERL_NIF_TERM tuples(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    int arity, i;
    const ERL_NIF_TERM* el;
    ERL_NIF_TERM rev[64], a, b, c, inl;
    (void)argc;
    if (!enif_is_tuple(env, argv[0])) return enif_make_badarg(env);
    if (!enif_get_tuple(env, argv[0], &arity, &el) || arity > 64) return enif_make_badarg(env);
    for (i = 0; i < arity; i++) rev[i] = el[arity - 1 - i];
    a = enif_make_atom(env, "a"); b = enif_make_atom(env, "b"); c = enif_make_atom(env, "c");
    inl = enif_make_list(env, 8,
        enif_make_tuple2(env, a, b),
        enif_make_tuple3(env, a, b, c),
        enif_make_tuple4(env, a, b, c, a),
        enif_make_tuple5(env, a, b, c, a, b),
        enif_make_tuple6(env, a, b, c, a, b, c),
        enif_make_tuple7(env, a, b, c, a, b, c, a),
        enif_make_tuple8(env, a, b, c, a, b, c, a, b),
        enif_make_tuple9(env, a, b, c, a, b, c, a, b, c));
    return enif_make_tuple4(env, enif_make_int(env, arity),
        enif_make_tuple_from_array(env, rev, (unsigned)arity),
        enif_make_tuple(env, 3, enif_make_int(env, arity), argv[0], enif_make_tuple(env, 0)),
        enif_make_tuple2(env, inl, enif_make_list9(env, a, b, c, a, b, c, a, b, c)));
}

static ERL_NIF_TERM type_atom(ErlNifEnv* env, ERL_NIF_TERM t) {
    switch (enif_term_type(env, t)) {
    case ERL_NIF_TERM_TYPE_ATOM: return enif_make_atom(env, "atom");
    case ERL_NIF_TERM_TYPE_BITSTRING: return enif_make_atom(env, "bitstring");
    case ERL_NIF_TERM_TYPE_FLOAT: return enif_make_atom(env, "float");
    case ERL_NIF_TERM_TYPE_FUN: return enif_make_atom(env, "fun");
    case ERL_NIF_TERM_TYPE_INTEGER: return enif_make_atom(env, "integer");
    case ERL_NIF_TERM_TYPE_LIST: return enif_make_atom(env, "list");
    case ERL_NIF_TERM_TYPE_MAP: return enif_make_atom(env, "map");
    case ERL_NIF_TERM_TYPE_PID: return enif_make_atom(env, "pid");
    case ERL_NIF_TERM_TYPE_PORT: return enif_make_atom(env, "port");
    case ERL_NIF_TERM_TYPE_REFERENCE: return enif_make_atom(env, "reference");
    case ERL_NIF_TERM_TYPE_TUPLE: return enif_make_atom(env, "tuple");
    default: return enif_make_atom(env, "unknown");
    }
}

/* classify(T) -> {TermType, [IsX flags in a fixed order]} */
static ERL_NIF_TERM classify(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ERL_NIF_TERM t = argv[0];
    (void)argc;
    return enif_make_tuple2(env, type_atom(env, t), enif_make_list(env, 12,
        mk_bool(enif_is_atom(env, t)), mk_bool(enif_is_binary(env, t)),
        mk_bool(enif_is_ref(env, t)), mk_bool(enif_is_fun(env, t)),
        mk_bool(enif_is_pid(env, t)), mk_bool(enif_is_port(env, t)),
        mk_bool(enif_is_list(env, t)), mk_bool(enif_is_tuple(env, t)),
        mk_bool(enif_is_map(env, t)), mk_bool(enif_is_number(env, t)),
        mk_bool(enif_is_empty_list(env, t)), mk_bool(enif_is_exception(env, t))));
}

static int sign(int x) { return x < 0 ? -1 : (x > 0 ? 1 : 0); }

/* compare(A, B) -> {Sign, Identical} */
static ERL_NIF_TERM compare(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    (void)argc;
    return enif_make_tuple2(env, enif_make_int(env, sign(enif_compare(argv[0], argv[1]))),
                            mk_bool(enif_is_identical(argv[0], argv[1])));
}

/* copy(T): through two process-independent environments and back; the
 * first env is cleared and reused in between. */
static ERL_NIF_TERM copy(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifEnv* e1 = enif_alloc_env();
    ErlNifEnv* e2 = enif_alloc_env();
    ERL_NIF_TERM t1, t2, junk, out;
    int same;
    (void)argc;
    junk = enif_make_copy(e1, argv[0]);
    (void)junk;
    enif_clear_env(e1);
    t1 = enif_make_copy(e1, argv[0]);
    t2 = enif_make_copy(e2, t1);
    enif_free_env(e1);
    same = enif_is_identical(t2, argv[0]);
    out = enif_make_copy(env, t2);
    enif_free_env(e2);
    return enif_make_tuple2(env, mk_bool(same), out);
}

/* refs(N) -> {[Ref], AllIsRef, AllDistinct} (the case checks the refs in Erlang) */
static ERL_NIF_TERM refs(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ERL_NIF_TERM r[16];
    unsigned n, i, j;
    int isref = 1, distinct = 1;
    (void)argc;
    if (!enif_get_uint(env, argv[0], &n) || n > 16) return enif_make_badarg(env);
    for (i = 0; i < n; i++) {
        r[i] = enif_make_ref(env);
        isref &= enif_is_ref(env, r[i]);
        for (j = 0; j < i; j++) distinct &= enif_compare(r[i], r[j]) != 0;
    }
    return enif_make_tuple3(env, enif_make_list_from_array(env, r, n), mk_bool(isref), mk_bool(distinct));
}

static ERL_NIF_TERM badarg(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    (void)argc; (void)argv;
    return enif_make_badarg(env);
}

/* raise(Reason): enif_raise_exception with an arbitrary term. */
static ERL_NIF_TERM raise(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    (void)argc;
    return enif_raise_exception(env, argv[0]);
}

/* pending(Mode, Reason): raises (Mode 0: Reason, 1: badarg) and first sends
 * itself {api_pending, Before, After, ReasonSeen, IsExc(Ret), IsExc(atom)}.
 * Mode 2 raises, then returns a normal term: the exception still wins. */
static ERL_NIF_TERM pending(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ERL_NIF_TERM before_r, after_r = 0, ret, msg;
    int mode, before, after;
    ErlNifPid self;
    ErlNifEnv* menv;
    (void)argc;
    if (!enif_get_int(env, argv[0], &mode)) return enif_make_badarg(env);
    before = enif_has_pending_exception(env, &before_r);
    ret = mode == 1 ? enif_make_badarg(env) : enif_raise_exception(env, argv[1]);
    after = enif_has_pending_exception(env, &after_r);
    menv = enif_alloc_env();
    msg = enif_make_tuple6(menv, enif_make_atom(menv, "api_pending"),
        mk_bool(before), mk_bool(after),
        after ? enif_make_copy(menv, after_r) : enif_make_atom(menv, "none"),
        mk_bool(enif_is_exception(env, ret)), mk_bool(enif_is_exception(env, argv[1])));
    if (!enif_send(env, enif_self(env, &self), menv, msg)) ret = enif_make_badarg(env);
    enif_free_env(menv);
    if (mode == 2) return atom_ok;
    return ret;
}

static ErlNifFunc funcs[] = {
    {"ints", 1, ints, 0},
    {"make_nums", 0, make_nums, 0},
    {"make_double", 1, make_double, 0},
    {"atoms", 2, atoms, 0},
    {"atom_info", 1, atom_info, 0},
    {"strings", 1, strings, 0},
    {"lists", 1, lists, 0},
    {"tuples", 1, tuples, 0},
    {"classify", 1, classify, 0},
    {"compare", 2, compare, 0},
    {"copy", 1, copy, 0},
    {"refs", 1, refs, 0},
    {"badarg", 0, badarg, 0},
    {"raise", 1, raise, 0},
    {"pending", 2, pending, 0},
};

ERL_NIF_INIT(api_terms, funcs, load, NULL, upgrade, NULL)
