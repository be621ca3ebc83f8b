/* term_prop: copies any term through the term functions -- read with
 * enif_is_* / enif_get_* / enif_inspect_*, rebuilt with enif_make_* -- so
 * that a property test (tests/erlang/term_prop.erl) can compare the copy with
 * the original natively, isolated with the worker's direct path, and
 * isolated fully forwarded. */
#include <erl_nif.h>
#include <string.h>

static ERL_NIF_TERM copy(ErlNifEnv* env, ERL_NIF_TERM t);

static ERL_NIF_TERM copy_list(ErlNifEnv* env, ERL_NIF_TERM t) {
    unsigned n, i;
    ERL_NIF_TERM head, tail, small[64], *arr, out;
    if (enif_get_list_length(env, t, &n)) {  /* proper: from an array */
        arr = n <= 64 ? small : enif_alloc(n * sizeof(ERL_NIF_TERM));
        for (i = 0; i < n; ++i) {
            enif_get_list_cell(env, t, &head, &tail);
            arr[i] = copy(env, head);
            t = tail;
        }
        out = enif_make_list_from_array(env, arr, n);
        if (arr != small) enif_free(arr);
        return out;
    }
    /* improper: cell by cell */
    enif_get_list_cell(env, t, &head, &tail);
    return enif_make_list_cell(env, copy(env, head),
                               enif_is_list(env, tail) && !enif_is_empty_list(env, tail)
                                   ? copy_list(env, tail) : copy(env, tail));
}

static ERL_NIF_TERM copy(ErlNifEnv* env, ERL_NIF_TERM t) {
    long l;
    unsigned long ul;
    double d;
    int arity, i;
    const ERL_NIF_TERM* elems;
    ErlNifBinary bin;
    char atom[256];
    switch (enif_term_type(env, t)) {
    case ERL_NIF_TERM_TYPE_ATOM:
        if (enif_is_atom(env, t) && enif_get_atom(env, t, atom, sizeof atom, ERL_NIF_LATIN1) > 0)
            return enif_make_atom_len(env, atom, strlen(atom));
        return t;  /* not latin-1 */
    case ERL_NIF_TERM_TYPE_INTEGER:
        if (enif_get_long(env, t, &l)) return enif_make_long(env, l);
        if (enif_get_ulong(env, t, &ul)) return enif_make_ulong(env, ul);
        return t;  /* a bignum beyond 64 bits */
    case ERL_NIF_TERM_TYPE_FLOAT:
        if (!enif_is_number(env, t) || !enif_get_double(env, t, &d)) return enif_make_badarg(env);
        return enif_make_double(env, d);
    case ERL_NIF_TERM_TYPE_LIST:
        if (enif_is_empty_list(env, t)) return enif_make_list(env, 0);
        return copy_list(env, t);
    case ERL_NIF_TERM_TYPE_TUPLE: {
        ERL_NIF_TERM small[16], *arr, out;
        if (!enif_is_tuple(env, t) || !enif_get_tuple(env, t, &arity, &elems)) return enif_make_badarg(env);
        arr = arity <= 16 ? small : enif_alloc(arity * sizeof(ERL_NIF_TERM));
        for (i = 0; i < arity; ++i) arr[i] = copy(env, elems[i]);
        out = enif_make_tuple_from_array(env, arr, (unsigned)arity);
        if (arr != small) enif_free(arr);
        return out;
    }
    case ERL_NIF_TERM_TYPE_BITSTRING:
        if (enif_inspect_binary(env, t, &bin)) {
            ERL_NIF_TERM out;
            unsigned char* p = enif_make_new_binary(env, bin.size, &out);
            memcpy(p, bin.data, bin.size);
            return out;
        }
        return t;  /* a bitstring that is not a binary */
    case ERL_NIF_TERM_TYPE_MAP: {
        size_t n, k = 0;
        ErlNifMapIterator it;
        ERL_NIF_TERM key, value, *keys, *values, out;
        if (!enif_is_map(env, t) || !enif_get_map_size(env, t, &n)) return enif_make_badarg(env);
        keys = enif_alloc((n + 1) * sizeof(ERL_NIF_TERM));
        values = enif_alloc((n + 1) * sizeof(ERL_NIF_TERM));
        enif_map_iterator_create(env, t, &it, ERL_NIF_MAP_ITERATOR_FIRST);
        while (enif_map_iterator_get_pair(env, &it, &key, &value)) {
            keys[k] = copy(env, key);
            values[k++] = copy(env, value);
            enif_map_iterator_next(env, &it);
        }
        enif_map_iterator_destroy(env, &it);
        if (!enif_make_map_from_arrays(env, keys, values, k, &out)) out = enif_make_badarg(env);
        enif_free(keys);
        enif_free(values);
        return out;
    }
    case ERL_NIF_TERM_TYPE_PID:
        return enif_is_pid(env, t) ? t : enif_make_badarg(env);
    case ERL_NIF_TERM_TYPE_PORT:
        return enif_is_port(env, t) ? t : enif_make_badarg(env);
    case ERL_NIF_TERM_TYPE_REFERENCE:
        return enif_is_ref(env, t) ? t : enif_make_badarg(env);
    case ERL_NIF_TERM_TYPE_FUN:
        return enif_is_fun(env, t) ? t : enif_make_badarg(env);
    default:
        return enif_make_badarg(env);
    }
}

static ERL_NIF_TERM copy_nif(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    (void)argc;
    return copy(env, argv[0]);
}

/* {identical, integer-or-small} checks on pairs: enif_is_identical. */
static ERL_NIF_TERM identical_nif(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    (void)argc;
    return enif_make_atom(env, enif_is_identical(argv[0], argv[1]) ? "true" : "false");
}

/* sub(Bin, Pos, Len): enif_make_sub_binary of enif_inspect_binary'd bytes. */
static ERL_NIF_TERM sub_nif(ErlNifEnv* env, int argc, const ERL_NIF_TERM argv[]) {
    ErlNifBinary bin;
    unsigned long pos, len;
    (void)argc;
    if (!enif_is_binary(env, argv[0]) || !enif_inspect_binary(env, argv[0], &bin) ||
        !enif_get_ulong(env, argv[1], &pos) || !enif_get_ulong(env, argv[2], &len) || pos + len > bin.size)
        return enif_make_badarg(env);
    return enif_make_sub_binary(env, argv[0], pos, len);
}

static ErlNifFunc funcs[] = {
    {"copy", 1, copy_nif, 0},
    {"sub", 3, sub_nif, 0},
    {"identical", 2, identical_nif, 0},
};

ERL_NIF_INIT(term_prop, funcs, NULL, NULL, NULL, NULL)
