%% Erlang side of the api_misc test NIF (tests/nifs/api_misc_nif.c); cases in api_cases.erl.
-module(api_misc).
-export([mem/1, mem_loop/2, time_info/0, hash/2, sysinfo/0, getenv/2, dl/3, fmt/3,
         sched/2, chain/1, consume/1, consume_count/0, consume_built/0, work/2, dirty_cpu/1, dirty_io/1,
         uniq/0, self_info/1, whereis/2, port/2, send/2, dyn_call/4, args14/14]).
-on_load(init/0).

init() ->
    Dir = os:getenv("NIFSHIM_TEST_NIFS", "."),
    erlang:load_nif(filename:join(Dir, "api_misc_nif"), 0).

mem(_) -> erlang:nif_error(not_loaded).
mem_loop(_, _) -> erlang:nif_error(not_loaded).
time_info() -> erlang:nif_error(not_loaded).
hash(_, _) -> erlang:nif_error(not_loaded).
sysinfo() -> erlang:nif_error(not_loaded).
getenv(_, _) -> erlang:nif_error(not_loaded).
dl(_, _, _) -> erlang:nif_error(not_loaded).
fmt(_, _, _) -> erlang:nif_error(not_loaded).
sched(_, _) -> erlang:nif_error(not_loaded).
chain(_) -> erlang:nif_error(not_loaded).
consume(_) -> erlang:nif_error(not_loaded).
consume_count() -> erlang:nif_error(not_loaded).
consume_built() -> erlang:nif_error(not_loaded).
work(_, _) -> erlang:nif_error(not_loaded).
dirty_cpu(_) -> erlang:nif_error(not_loaded).
dirty_io(_) -> erlang:nif_error(not_loaded).
uniq() -> erlang:nif_error(not_loaded).
args14(_, _, _, _, _, _, _, _, _, _, _, _, _, _) -> erlang:nif_error(not_loaded).
self_info(_) -> erlang:nif_error(not_loaded).
whereis(_, _) -> erlang:nif_error(not_loaded).
port(_, _) -> erlang:nif_error(not_loaded).
send(_, _) -> erlang:nif_error(not_loaded).
dyn_call(_, _, _, _) -> erlang:nif_error(not_loaded).
