%% Erlang side of the api_upgrade test NIF (tests/nifs/api_upgrade_nif.c); cases in api_cases.erl.
-module(api_upgrade).
-export([info/0, new/1, get/1, dtors/0]).
-on_load(init/0).

init() ->
    Dir = os:getenv("NIFSHIM_TEST_NIFS", "."),
    erlang:load_nif(filename:join(Dir, "api_upgrade_nif"), 42).

info() -> erlang:nif_error(not_loaded).
new(_) -> erlang:nif_error(not_loaded).
get(_) -> erlang:nif_error(not_loaded).
dtors() -> erlang:nif_error(not_loaded).
