%% Erlang side of the api_newer test NIF (tests/nifs/api_newer_nif.c): the
%% enif functions newer than NIF 2.16; cases in api_cases.erl (newer_cases/0)
%% and run_case.sh (api_options). Functions the runtime's NIF version lacks
%% are not in the library: their stubs stay.
-module(api_newer).
-export([nif_minor/0, load_options/0, string_length/2, new_atom/2, utf8/2, slow/1,
         sizes/1, cache_index/1]).
-on_load(init/0).

init() ->
    Dir = os:getenv("NIFSHIM_TEST_NIFS", "."),
    erlang:load_nif(filename:join(Dir, "api_newer_nif"), 0).

nif_minor() -> erlang:nif_error(not_loaded).
load_options() -> erlang:nif_error(not_loaded).
string_length(_, _) -> erlang:nif_error(not_loaded).
new_atom(_, _) -> erlang:nif_error(not_loaded).
utf8(_, _) -> erlang:nif_error(not_loaded).
slow(_) -> erlang:nif_error(not_loaded).
sizes(_) -> erlang:nif_error(not_loaded).
cache_index(_) -> erlang:nif_error(not_loaded).

