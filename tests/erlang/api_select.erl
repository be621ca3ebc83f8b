%% Erlang side of the api_select test NIF (tests/nifs/api_select_nif.c); cases in api_cases.erl.
-module(api_select).
-export([open/1, select/5, select_x/3, bad_fd/1, write/2, read/1, state/1, dtors/0]).
-on_load(init/0).

init() ->
    Dir = os:getenv("NIFSHIM_TEST_NIFS", "."),
    erlang:load_nif(filename:join(Dir, "api_select_nif"), 0).

open(_) -> erlang:nif_error(not_loaded).
select(_, _, _, _, _) -> erlang:nif_error(not_loaded).
select_x(_, _, _) -> erlang:nif_error(not_loaded).
bad_fd(_) -> erlang:nif_error(not_loaded).
write(_, _) -> erlang:nif_error(not_loaded).
read(_) -> erlang:nif_error(not_loaded).
state(_) -> erlang:nif_error(not_loaded).
dtors() -> erlang:nif_error(not_loaded).
