%% Per-library accounting in nifshim:workers(): the figures move when the
%% NIF allocates and frees (tests/nifs/usage_nif.c).
-module(usage_tests).
-export([run/0, rebuilt/0]).

-define(MB, (1024 * 1024)).

run() ->
    test_util:run(fun() ->
        ok = usage_nif:drop(),
        W0 = worker(),
        [true = is_integer(maps:get(K, W0)) || K <- [rss_bytes, private_bytes, cpu_ms, arena_bytes,
                                                     resources, latency_samples, latency_p50_ns,
                                                     latency_p99_ns]],
        % The shared arena: enif_alloc'ed bytes held, then freed.
        [ok = usage_nif:hold(?MB) || _ <- lists:seq(1, 16)],
        A1 = maps:get(arena_bytes, worker()),
        A1 >= maps:get(arena_bytes, W0) + 16 * ?MB orelse fail("arena ~p after 16 MiB held (~p)", [A1, W0]),
        ok = usage_nif:drop(),
        A2 = maps:get(arena_bytes, worker()),
        A2 =< maps:get(arena_bytes, W0) + 65536 orelse fail("arena ~p after freeing (~p before)", [A2, W0]),
        % The worker's private memory: malloc'ed and written.
        P0 = maps:get(private_bytes, worker()),
        [ok = usage_nif:touch(4 * ?MB) || _ <- lists:seq(1, 16)],
        #{private_bytes := P1, rss_bytes := R1} = worker(),
        P1 >= P0 + 60 * ?MB orelse fail("private ~p after 64 MiB touched (~p before)", [P1, P0]),
        R1 >= P1 orelse fail("rss ~p below private ~p", [R1, P1]),
        ok = usage_nif:drop(),
        % Resource objects the VM holds, then collected.
        Rs = usage_nif:resources(1000),
        N1 = maps:get(resources, worker()),
        N1 >= 1000 orelse fail("~p resources with 1000 alive", [N1]),
        1000 = length(Rs),
        ok = wait_until(fun() -> erlang:garbage_collect(), maps:get(resources, worker()) < 10 end),
        % CPU time (CPU time used, not wall time).
        C0 = maps:get(cpu_ms, worker()),
        ok = usage_nif:spin(300),
        C1 = maps:get(cpu_ms, worker()),
        C1 >= C0 + 200 orelse fail("cpu_ms ~p -> ~p after 300 ms of CPU", [C0, C1]),
        % Latency: sampled, one call in 16 per scheduler thread.
        [ok = usage_nif:drop() || _ <- lists:seq(1, 2000)],
        #{latency_samples := S, latency_p50_ns := P50, latency_p99_ns := P99} = worker(),
        S >= 50 orelse fail("~p latency samples after 2000 calls", [S]),
        (P50 > 0 andalso P99 >= P50) orelse fail("p50 ~p p99 ~p", [P50, P99]),
        io:format("usage: arena +16 MiB and back, private +~p MiB, ~p resources and back, "
                  "cpu +~p ms, latency p50 ~p ns p99 ~p ns (~p samples)~n",
                  [(P1 - P0) div ?MB, N1, C1 - C0, P50, P99, S])
    end).

%% Rebuilt mode (a plain erl, crash_nif linked against the shim): the nifshim
%% module finds the shim in the rebuilt library's scope.
rebuilt() ->
    test_util:run(fun() ->
        false = nifshim:active(),                 % no rebuilt library loaded yet
        alive = crash_nif:crash(none),
        true = nifshim:active(),
        [#{state := running, pid := P1}] = [W || #{name := "crash_nif"} = W <- nifshim:workers()],
        ok = nifshim:restart(crash_nif),
        alive = crash_nif:crash(none),
        [#{state := running, pid := P2, restarts := 1}] = [W || #{name := "crash_nif"} = W <- nifshim:workers()],
        P1 =/= P2 orelse fail("restart/1 kept pid ~p", [P1]),
        #{resident := _} = nifshim:memory(),
        #{restarts := _} = nifshim:policy(),
        io:format("rebuilt: workers/0, restart/1, memory/0, policy/0 work without the preload~n")
    end).

worker() ->
    [W] = [W || #{name := "usage_nif"} = W <- nifshim:workers()],
    W.

wait_until(F) -> wait_until(F, 500).
wait_until(_, 0) -> fail("resources not collected", []);
wait_until(F, N) -> case F() of true -> ok; false -> timer:sleep(10), wait_until(F, N - 1) end.

fail(Fmt, Args) -> test_util:fail(Fmt, Args).
