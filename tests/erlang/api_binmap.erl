%% Erlang side of the api_binmap test NIF (tests/nifs/api_binmap_nif.c); cases in api_cases.erl.
-module(api_binmap).
-export([bins/1, release_loop/2, chunks/3, inspect/1, iolist/1, t2b/1, b2t/2, map_ops/3,
         map_arrays/2, map_iter/1, ioq/2]).
-on_load(init/0).

init() ->
    Dir = os:getenv("NIFSHIM_TEST_NIFS", "."),
    erlang:load_nif(filename:join(Dir, "api_binmap_nif"), 0).

bins(_) -> erlang:nif_error(not_loaded).
release_loop(_, _) -> erlang:nif_error(not_loaded).
chunks(_, _, _) -> erlang:nif_error(not_loaded).
inspect(_) -> erlang:nif_error(not_loaded).
iolist(_) -> erlang:nif_error(not_loaded).
t2b(_) -> erlang:nif_error(not_loaded).
b2t(_, _) -> erlang:nif_error(not_loaded).
map_ops(_, _, _) -> erlang:nif_error(not_loaded).
map_arrays(_, _) -> erlang:nif_error(not_loaded).
map_iter(_) -> erlang:nif_error(not_loaded).
ioq(_, _) -> erlang:nif_error(not_loaded).
