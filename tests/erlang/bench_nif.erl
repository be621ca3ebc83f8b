%% Erlang side of tests/nifs/bench_nif.c, and the timing loops scripts/bench runs.
-module(bench_nif).
-export([noop/1, add/2, build_list/1, bin_copy/1]).
-export([time_calls/2, time_modes/2]).
-on_load(init/0).

init() ->
    erlang:load_nif(filename:join(os:getenv("NIFSHIM_TEST_NIFS", "."), "bench_nif"), 0).

noop(_) -> erlang:nif_error(not_loaded).
add(_, _) -> erlang:nif_error(not_loaded).
build_list(_) -> erlang:nif_error(not_loaded).
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

%% Prints "Name ns_per_call" for each case, N calls each, median of 5 runs.
time_calls(Which, N) ->
    Cases = [{noop, fun() -> loop_noop(N) end},
             {add, fun() -> loop_add(N) end},
             {build_list_1000, fun() -> loop_build(N div 100) end, N div 100}],
    [begin
         {Name, F, Calls} = case C of {Nm, Fn} -> {Nm, Fn, N}; T -> T end,
         F(),  % warm up (the first call opens the channel)
         Ts = lists:sort([element(1, timer:tc(F)) || _ <- lists:seq(1, 5)]),
         io:format("~s ~s ~.2f~n", [Which, Name, lists:nth(3, Ts) * 1000 / Calls])
     end || C <- Cases],
    ok.

loop_noop(0) -> ok;
loop_noop(N) -> noop(N), loop_noop(N - 1).

loop_add(0) -> ok;
loop_add(N) -> add(N, 1), loop_add(N - 1).

loop_build(0) -> ok;
loop_build(N) -> build_list(1000), loop_build(N - 1).
