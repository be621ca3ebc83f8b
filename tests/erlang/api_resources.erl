%% Erlang side of the api_resources test NIF (tests/nifs/api_resources_nif.c); cases in api_cases.erl.
-module(api_resources).
-export([info/0, new/2, new_many/2, value/1, res_size/1, dtors/1, res_bin/2, res_bin_static/1, keep/1,
         unkeep/0, mon_new/0, mon_start/2, mon_stop/1, mon_cmp/2, nodown_monitor/1,
         nodown_new/0, dyn_new/1, dyn_call/4]).
-on_load(init/0).

init() ->
    Dir = os:getenv("NIFSHIM_TEST_NIFS", "."),
    erlang:load_nif(filename:join(Dir, "api_resources_nif"), 17).

info() -> erlang:nif_error(not_loaded).
new(_, _) -> erlang:nif_error(not_loaded).
new_many(_, _) -> erlang:nif_error(not_loaded).
value(_) -> erlang:nif_error(not_loaded).
res_size(_) -> erlang:nif_error(not_loaded).
dtors(_) -> erlang:nif_error(not_loaded).
res_bin(_, _) -> erlang:nif_error(not_loaded).
res_bin_static(_) -> erlang:nif_error(not_loaded).
keep(_) -> erlang:nif_error(not_loaded).
unkeep() -> erlang:nif_error(not_loaded).
mon_new() -> erlang:nif_error(not_loaded).
mon_start(_, _) -> erlang:nif_error(not_loaded).
mon_stop(_) -> erlang:nif_error(not_loaded).
mon_cmp(_, _) -> erlang:nif_error(not_loaded).
nodown_monitor(_) -> erlang:nif_error(not_loaded).
nodown_new() -> erlang:nif_error(not_loaded).
dyn_new(_) -> erlang:nif_error(not_loaded).
dyn_call(_, _, _, _) -> erlang:nif_error(not_loaded).
