// enif functions the shim itself calls (see real_enif.h). No include guard:
// an X-macro list.
NIFSHIM_REAL(priv_data)
NIFSHIM_REAL(thread_type)
NIFSHIM_REAL(raise_exception)
NIFSHIM_REAL(make_atom)
NIFSHIM_REAL(make_tuple_from_array)
NIFSHIM_REAL(make_new_map)
NIFSHIM_REAL(make_map_put)
NIFSHIM_REAL(make_string)
NIFSHIM_REAL(make_int)
NIFSHIM_REAL(make_badarg)
NIFSHIM_REAL(thread_create)
NIFSHIM_REAL(snprintf)
