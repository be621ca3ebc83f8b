%% Erlang side of the api_threads test NIF (tests/nifs/api_threads_nif.c); cases in api_cases.erl.
-module(api_threads).
-export([thread_type/0, thread_type_dirty_cpu/0, thread_type_dirty_io/0, basic/1,
         mutex/2, condvar/2, rwlock/2, tsd/1, send_from_thread/4]).
-on_load(init/0).

init() ->
    Dir = os:getenv("NIFSHIM_TEST_NIFS", "."),
    erlang:load_nif(filename:join(Dir, "api_threads_nif"), 0).

thread_type() -> erlang:nif_error(not_loaded).
thread_type_dirty_cpu() -> erlang:nif_error(not_loaded).
thread_type_dirty_io() -> erlang:nif_error(not_loaded).
basic(_) -> erlang:nif_error(not_loaded).
mutex(_, _) -> erlang:nif_error(not_loaded).
condvar(_, _) -> erlang:nif_error(not_loaded).
rwlock(_, _) -> erlang:nif_error(not_loaded).
tsd(_) -> erlang:nif_error(not_loaded).
send_from_thread(_, _, _, _) -> erlang:nif_error(not_loaded).
