%% The measurements of scripts/bench, run inside one VM.
%%
%% bench_run:main(Mode, Opts) runs the cases of Mode and prints one line per
%% repetition, "R <case> <column> <value>", which scripts/bench collects
%% over several VMs and rounds (tests/tools/bench_report.py takes medians).
%% Values are nanoseconds per operation unless the case says otherwise.
%% Every result is checked once for correctness; no time is asserted.
%%
%% Mode:
%%   native      a VM without the shim: the NIF cases natively, then the
%%               same work through a port program (column "port"), then
%%               loading the library again + its first call
%%   shim_native a VM with the shim whose NIF libraries load natively
%%               (NIFSHIM_NO_ISOLATE=*): the window's cost alone
%%   isolated    a VM with the shim, libraries isolated: the NIF cases, then
%%               worker start, restart on demand, restart after a crash and
%%               the CPU an idle worker uses
%% Opts: reps (repetitions per case), target_ms (length of one repetition),
%% port (path of bench_port), floor (path of channel_floor: in the isolated
%% VM each repetition of noop is paired with a floor measured just before
%% it, since the host's cache-line latency can change within a run), skip
%% (case names not to run).
-module(bench_run).
-export([main/2, json_doc/0]).

-define(MB, (1 bsl 20)).

main(Mode, Opts) ->
    logger:set_primary_config(level, none),  % worker crash reports: expected here
    try
        run(Mode, maps:merge(#{reps => 3, target_ms => 200, skip => []}, Opts)),
        halt(0)
    catch C:R:S ->
        io:format("FAIL ~p:~p~n~p~n", [C, R, S]),
        halt(1)
    end.

run(Mode, Opts) ->
    Data = data(),
    Cases = [C || C = {Name, _} <- nif_cases(Data), not lists:member(Name, maps:get(skip, Opts))],
    Col = atom_to_list(Mode),
    [measure(Name, Col, Run, Opts) || {Name, Run} <- Cases],
    case {Mode, maps:find(floor, Opts), lists:keyfind(noop, 1, Cases)} of
        {isolated, {ok, Floor}, {noop, Noop}} -> paired_floor(Floor, Noop, Opts);
        _ -> ok
    end,
    case Mode of
        native ->
            Port = open_bench_port(maps:get(port, Opts)),
            [measure(Name, "port", Run, Opts)
             || {Name, Run} <- port_cases(Port, Data), not lists:member(Name, maps:get(skip, Opts))],
            port_close(Port),
            samples(load_first_call, Col, 10, fun load_first_call/0);
        isolated ->
            samples(load_first_call, Col, 10, fun load_first_call/0),
            samples(restart_on_demand, Col, 10, fun restart_on_demand/0),
            samples(crash_restart, Col, 20, fun crash_restart/0),
            idle_cpu(Col);
        shim_native ->
            ok
    end.

%% The inputs, made once per VM (deterministic).
data() ->
    Bin1 = binary:copy(<<"0123456789abcdef">>, ?MB div 16),
    Bin100 = binary:copy(Bin1, 100),
    #{list => lists:seq(1, 1000), bin1 => Bin1, bin100 => Bin100, json => json_doc()}.

%% Each case: {Name, fun(N) -> runs N operations}.
nif_cases(#{list := L, bin1 := B1, bin100 := B100, json := Json}) ->
    check(noop, bench_nif:noop(7), 7),
    check(add, bench_nif:add(2, 3), 5),
    check(build_list, bench_nif:build_list(1000), [{I, I * I} || I <- lists:seq(1, 1000)]),
    check(sum_list, bench_nif:sum_list(L), 500500),
    check(bin_info, bench_nif:bin_info(B100), {100 * ?MB, $0}),
    check(bin_sub, bench_nif:bin_sub(B100), B100),
    check(bin_sum, bench_nif:bin_sum(B1), lists:sum(binary_to_list(B1))),
    check(bin_make, bench_nif:bin_make(1000), binary:copy(<<16#5a>>, 1000)),
    Sha = crypto:hash(sha256, B1),
    check(sha256, byte_size(Sha), 32),
    check(jiffy, jiffy:decode(jiffy:encode(jiffy:decode(Json))), jiffy:decode(Json)),
    Scheds = erlang:system_info(schedulers_online),
    [{noop, fun loop_noop/1},
     {add, fun loop_add/1},
     {build_list_1000, fun(N) -> times(N, fun() -> bench_nif:build_list(1000) end) end},
     {sum_list_1000, fun(N) -> times(N, fun() -> bench_nif:sum_list(L) end) end},
     {jiffy_1mb, fun(N) -> times(N, fun() -> jiffy:encode(jiffy:decode(Json)) end) end},
     {sha256_1mb, fun(N) -> times(N, fun() -> crypto:hash(sha256, B1) end) end},
     {sha256_100mb, fun(N) -> times(N, fun() -> crypto:hash(sha256, B100) end) end},
     {copy_100mb, fun(N) -> times(N, fun() -> binary:copy(B100) end) end},
     {bin_in_100mb, fun(N) -> times(N, fun() -> bench_nif:bin_info(B100) end) end},
     {bin_in_out_100mb, fun(N) -> times(N, fun() -> bench_nif:bin_sub(B100) end) end},
     {bin_sum_100mb, fun(N) -> times(N, fun() -> bench_nif:bin_sum(B100) end) end},
     {bin_new_100mb, fun(N) -> times(N, fun() -> bench_nif:bin_make(100 * ?MB) end) end},
     {all_schedulers_noop, fun(N) -> all_schedulers(Scheds, N) end}].

%% The same work through the port program (tests/tools/bench_port.c).
port_cases(P, #{list := L, bin1 := B1, bin100 := B100}) ->
    check(port_noop, port_noop(P, 7), 7),
    check(port_add, port_add(P, 2, -3), -1),
    check(port_build, port_build(P, 1000), [{I, I * I} || I <- lists:seq(1, 1000)]),
    check(port_sum, port_sum(P, L), 500500),
    check(port_echo, port_call(P, [$e, B1]), B1),
    check(port_bin_sum, port_bin_sum(P, B1), lists:sum(binary_to_list(B1))),
    Sha = case port_call(P, [$h, B1]) of
              <<>> -> none;  % built without libcrypto
              H -> check(port_sha256, H, crypto:hash(sha256, B1))
          end,
    [{noop, fun(N) -> times(N, fun() -> port_noop(P, N) end) end},
     {add, fun(N) -> times(N, fun() -> port_add(P, N, 1) end) end},
     {build_list_1000, fun(N) -> times(N, fun() -> port_build(P, 1000) end) end},
     {sum_list_1000, fun(N) -> times(N, fun() -> port_sum(P, L) end) end}]
    ++ [{sha256_1mb, fun(N) -> times(N, fun() -> port_call(P, [$h, B1]) end) end} || Sha =/= none]
    ++ [{sha256_100mb, fun(N) -> times(N, fun() -> port_call(P, [$h, B100]) end) end} || Sha =/= none]
    ++ [{bin_in_out_100mb, fun(N) -> times(N, fun() -> port_call(P, [$e, B100]) end) end},
        {bin_sum_100mb, fun(N) -> times(N, fun() -> port_bin_sum(P, B100) end) end}].

check(_, Same, Same) -> Same;
check(What, Got, Want) -> error({wrong_result, What, Got, Want}).

%% Calibrates N so that one repetition lasts about target_ms, runs one
%% repetition to warm up (memory the VM reuses, a worker thread's channel),
%% then prints reps repetitions of N operations as ns per operation.
measure(Name, Col, Run, #{reps := Reps, target_ms := TargetMs}) ->
    N = calibrate(Run, 1, TargetMs * 1000),
    Run(N),
    [begin
         erlang:garbage_collect(),
         {Us, _} = timer:tc(fun() -> Run(N) end),
         emit(Name, Col, Us * 1000 / N)
     end || _ <- lists:seq(1, Reps)],
    ok.

%% noop against the channel floor measured right before it, rep by rep:
%% "R noop_over_floor isolated Ratio" (a ratio, not ns).
paired_floor(Floor, Noop, #{reps := Reps, target_ms := TargetMs}) ->
    N = calibrate(Noop, 1, TargetMs * 1000),
    [begin
         Out = os:cmd(Floor ++ " 100000"),
         [FloorNs] = [list_to_float(V) || "floor channel " ++ V <- string:lexemes(Out, "\n")],
         erlang:garbage_collect(),
         {Us, _} = timer:tc(fun() -> Noop(N) end),
         emit(noop_over_floor, "isolated", Us * 1000 / N / FloorNs)
     end || _ <- lists:seq(1, 3 * Reps)],
    ok.

calibrate(Run, N, TargetUs) ->
    {Us, _} = timer:tc(fun() -> Run(N) end),
    if
        Us >= 20000 orelse N >= 1 bsl 28 -> max(1, round(N * TargetUs / max(Us, 1)));
        true -> calibrate(Run, N * 8, TargetUs)
    end.

%% K single samples of F (each returning ns), one line each.
samples(Name, Col, K, F) ->
    [emit(Name, Col, F()) || _ <- lists:seq(1, K)],
    ok.

emit(Name, Col, Value) ->
    io:format("R ~s ~s ~.3f~n", [Name, Col, float(Value)]).

times(0, _) -> ok;
times(N, F) -> F(), times(N - 1, F).

loop_noop(0) -> ok;
loop_noop(N) -> bench_nif:noop(N), loop_noop(N - 1).

loop_add(0) -> ok;
loop_add(N) -> bench_nif:add(N, 1), loop_add(N - 1).

%% One process per scheduler, each calling noop N times, all at once: the
%% time per call over all of them (throughput).
all_schedulers(S, N) ->
    Per = max(1, N div S),
    Parent = self(),
    Go = make_ref(),
    Pids = [spawn_opt(fun() -> receive Go -> ok end, loop_noop(Per), Parent ! {done, self()} end,
                      [link, {scheduler, I}])
            || I <- lists:seq(1, S)],
    [P ! Go || P <- Pids],
    [receive {done, P} -> ok end || P <- Pids],
    ok.

%% ---- the port program ---------------------------------------------------

open_bench_port(Path) ->
    open_port({spawn_executable, Path}, [{packet, 4}, binary, exit_status]).

port_call(P, Req) ->
    true = port_command(P, Req),
    receive
        {P, {data, D}} -> D;
        {P, {exit_status, S}} -> error({bench_port_exited, S})
    end.

port_noop(P, X) -> binary_to_term(port_call(P, [$e | term_to_binary(X)])).

port_add(P, A, B) ->
    <<R:64/signed>> = port_call(P, <<$a, A:64/signed, B:64/signed>>),
    R.

port_build(P, N) -> binary_to_term(port_call(P, <<$b, N:32>>)).

port_bin_sum(P, B) ->
    <<S:64>> = port_call(P, [$u, B]),
    S.

port_sum(P, L) ->
    <<S:64/signed>> = port_call(P, [$s | term_to_binary(L)]),
    S.

%% ---- worker start and restart ------------------------------------------

now_ns() -> erlang:monotonic_time(nanosecond).

%% The library loaded afresh (the module reloaded: load_nif, in a worker when
%% isolated) and its first call.
load_first_call() ->
    code:purge(bench_nif),
    code:delete(bench_nif),
    code:purge(bench_nif),
    T = now_ns(),
    {module, bench_nif} = code:load_file(bench_nif),
    7 = bench_nif:noop(7),
    now_ns() - T.

%% nifshim:restart/1 kills the worker; the next call starts a fresh one.
restart_on_demand() ->
    ok = nifshim:restart(bench_nif),
    wait_dead("bench_nif", 2000),
    T = now_ns(),
    7 = bench_nif:noop(7),
    now_ns() - T.

wait_dead(_, 0) -> error(worker_did_not_die);
wait_dead(Name, K) ->
    case [W || W = #{name := N, state := running} <- nifshim:workers(), N =:= Name] of
        [] -> ok;
        _ -> timer:sleep(1), wait_dead(Name, K - 1)
    end.

%% A segfault in a call; the time from the caller's exception to the next
%% call served (by a restarted worker).
crash_restart() ->
    {nifshim, worker_crashed, _} = try crash_nif:crash(segv) catch error:E -> E end,
    T = now_ns(),
    alive = crash_nif:crash(none),
    now_ns() - T.

%% CPU ticks (utime + stime, 1/100 s) the running workers use over 2 s with
%% no calls; one line per worker and their sum.
idle_cpu(Col) ->
    timer:sleep(200),  % past any spin budget
    Ws = [{Name, integer_to_list(Pid)} || #{name := Name, pid := Pid, state := running} <- nifshim:workers()],
    Before = [cpu_ticks(P) || {_, P} <- Ws],
    timer:sleep(2000),
    After = [cpu_ticks(P) || {_, P} <- Ws],
    Deltas = lists:zipwith(fun(A, B) -> A - B end, After, Before),
    [io:format("I ~s ~b~n", [Name, D]) || {{Name, _}, D} <- lists:zip(Ws, Deltas)],
    emit(idle_worker_ticks_2s, Col, lists:sum(Deltas)),
    emit(idle_workers, Col, length(Ws)).

cpu_ticks(Pid) ->
    {ok, S} = file:read_file("/proc/" ++ Pid ++ "/stat"),
    [_, After] = binary:split(S, <<") ">>),
    F = binary:split(After, <<" ">>, [global]),
    binary_to_integer(lists:nth(12, F)) + binary_to_integer(lists:nth(13, F)).

%% ---- the JSON document ------------------------------------------------------

%% About 1 MB of JSON: 4000 records of numbers, strings, arrays and objects.
json_doc() ->
    Rec = fun(I) ->
                  io_lib:format(
                    "{\"id\":~b,\"name\":\"user-~b\",\"email\":\"user~b@example.org\","
                    "\"score\":~.3f,\"active\":~s,\"tags\":[\"alpha\",\"beta\",\"t~b\"],"
                    "\"address\":{\"street\":\"~b Main Street\",\"city\":\"Springfield\","
                    "\"zip\":\"~5..0b\"},\"history\":[~b,~b,~b,~b,~b],\"note\":null}",
                    [I, I, I, I * 1.25, lists:nth(1 + I rem 2, ["true", "false"]), I rem 17,
                     I, I rem 100000, I, I * 2, I * 3, I * 5, I * 7])
          end,
    iolist_to_binary(["[", lists:join(",", [Rec(I) || I <- lists:seq(1, 4000)]), "]"]).
