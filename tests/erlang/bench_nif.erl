%% Erlang side of tests/nifs/bench_nif.c; scripts/bench times it (bench_run.erl).
-module(bench_nif).
-export([noop/1, add/2, build_list/1, sum_list/1, bin_info/1, bin_sub/1, bin_sum/1, bin_make/1, bin_copy/1]).
-export([time_modes/2]).
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
bin_copy(_) -> erlang:nif_error(not_loaded).

%% Prints "Which Case ns_per_call" for the rebuilt-mode comparison: noop and
%% a 1 MB binary in and out (median of 5 runs).
time_modes(Which, N) ->
    Bin = binary:copy(<<"0123456789abcdef">>, 65536),
    Bin = bin_copy(Bin),
    M = max(1, N div 1000),
    [begin
         F(),
         Ts = lists:sort([element(1, timer:tc(F)) || _ <- lists:seq(1, 5)]),
         io:format("~s ~s ~.2f~n", [Which, Name, lists:nth(3, Ts) * 1000 / Calls])
     end || {Name, F, Calls} <- [{noop, fun() -> loop_noop(N) end, N},
                                 {bin_copy_1mb, fun() -> loop_bin(M, Bin) end, M}]],
    ok.

loop_bin(0, _) -> ok;
loop_bin(N, B) -> bin_copy(B), loop_bin(N - 1, B).

loop_noop(0) -> ok;
loop_noop(N) -> noop(N), loop_noop(N - 1).
