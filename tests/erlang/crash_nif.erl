%% Erlang side of tests/nifs/crash_nif.c.
-module(crash_nif).
-export([crash/1, crash_dirty/1]).
-on_load(init/0).

init() ->
    erlang:load_nif(filename:join(os:getenv("NIFSHIM_TEST_NIFS", "."), "crash_nif"), 0).

crash(_) -> erlang:nif_error(not_loaded).
crash_dirty(_) -> erlang:nif_error(not_loaded).
