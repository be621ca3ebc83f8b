%% Erlang side of tests/nifs/usage_nif.c.
-module(usage_nif).
-export([hold/1, touch/1, drop/0, resources/1, spin/1]).
-on_load(init/0).

init() ->
    erlang:load_nif(filename:join(os:getenv("NIFSHIM_TEST_NIFS", "."), "usage_nif"), 0).

hold(_) -> erlang:nif_error(not_loaded).
touch(_) -> erlang:nif_error(not_loaded).
drop() -> erlang:nif_error(not_loaded).
resources(_) -> erlang:nif_error(not_loaded).
spin(_) -> erlang:nif_error(not_loaded).
