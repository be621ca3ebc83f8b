%% Erlang side of tests/nifs/bench_nif.c; scripts/bench times it (bench_run.erl).
-module(bench_nif).
-export([noop/1, add/2, build_list/1, sum_list/1, bin_info/1, bin_sub/1, bin_sum/1, bin_make/1]).
-on_load(init/0).

init() ->
    erlang:load_nif(filename:join(os:getenv("NIFSHIM_TEST_NIFS", "."), "bench_nif"), 0).

noop(_) -> erlang:nif_error(not_loaded).
add(_, _) -> erlang:nif_error(not_loaded).
build_list(_) -> erlang:nif_error(not_loaded).
sum_list(_) -> erlang:nif_error(not_loaded).
bin_info(_) -> erlang:nif_error(not_loaded).
bin_sub(_) -> erlang:nif_error(not_loaded).
bin_sum(_) -> erlang:nif_error(not_loaded).
bin_make(_) -> erlang:nif_error(not_loaded).
