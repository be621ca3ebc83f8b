%% Erlang side of the api_terms test NIF (tests/nifs/api_terms_nif.c); cases in api_cases.erl.
-module(api_terms).
-export([ints/1, refs/1, make_nums/0, make_double/1, atoms/2, atom_info/1, strings/1,
         lists/1, tuples/1, classify/1, compare/2, copy/1, badarg/0, raise/1, pending/2]).
-on_load(init/0).

init() ->
    Dir = os:getenv("NIFSHIM_TEST_NIFS", "."),
    erlang:load_nif(filename:join(Dir, "api_terms_nif"), 0).

ints(_) -> erlang:nif_error(not_loaded).
refs(_) -> erlang:nif_error(not_loaded).
make_nums() -> erlang:nif_error(not_loaded).
make_double(_) -> erlang:nif_error(not_loaded).
atoms(_, _) -> erlang:nif_error(not_loaded).
atom_info(_) -> erlang:nif_error(not_loaded).
strings(_) -> erlang:nif_error(not_loaded).
lists(_) -> erlang:nif_error(not_loaded).
tuples(_) -> erlang:nif_error(not_loaded).
classify(_) -> erlang:nif_error(not_loaded).
compare(_, _) -> erlang:nif_error(not_loaded).
copy(_) -> erlang:nif_error(not_loaded).
badarg() -> erlang:nif_error(not_loaded).
raise(_) -> erlang:nif_error(not_loaded).
pending(_, _) -> erlang:nif_error(not_loaded).
