%% Recovery without a person: past the restart limit a library backs off
%% (fails fast), then the next call after the backoff tries a fresh worker,
%% with no nifshim:restart/1. Run by tests/erlang/run_case.sh with
%% NIFSHIM_RESTARTS=2/T and NIFSHIM_BACKOFF=300/1200.
-module(recovery_tests).
-export([backoff/0, backoff_quiet/0, backoff_off/0, cores/0]).

%% The schedule: 300 ms, doubled while the library keeps crashing, capped at
%% 1200; nifshim:restart/1 lifts it at once.
backoff() ->
    test_util:run(fun() ->
        alive = crash_nif:crash(none),
        {restart_limit, I1} = storm(),
        #{backoff_ms := 300, retry_in_ms := R1} = I1,
        (R1 > 0 andalso R1 =< 300) orelse fail("retry_in_ms ~p", [R1]),
        #{state := backoff, backoff_ms := 300, retry_in_ms := W1} = worker(),
        W1 > 0 orelse fail("workers() retry_in_ms ~p", [W1]),
        Fast = [next() || _ <- lists:seq(1, 20)],           % fail fast, no restart
        [restart_limit] = lists:usort(Fast),
        Restarts0 = maps:get(restarts, worker()),
        alive = recover(),                                  % by itself
        #{state := running} = W2 = worker(),
        Restarts0 + 1 =:= maps:get(restarts, W2) orelse fail("restarts ~p -> ~p", [Restarts0, W2]),
        % Still crashing: one crash after the backoff is enough to back off again, doubled.
        worker_crashed = crash(),
        {restart_limit, #{backoff_ms := 600}} = next_info(),
        alive = recover(),
        worker_crashed = crash(),
        {restart_limit, #{backoff_ms := 1200}} = next_info(),
        alive = recover(),
        worker_crashed = crash(),
        {restart_limit, #{backoff_ms := 1200}} = next_info(),  % the cap
        % nifshim:restart/1 lifts it at once.
        ok = nifshim:restart(crash_nif),
        alive = crash_nif:crash(none),
        #{state := running, backoff_ms := 0, crashes := Crashes} = worker(),
        Crashes =:= 6 orelse fail("crashes ~p, want 6 (one per death)", [Crashes]),
        io:format("backoff: 300, 600, 1200, 1200 ms; recovered by itself 3 times; restart/1 lifts it~n")
    end).

%% After T seconds without a restart the schedule starts again at MIN.
backoff_quiet() ->
    test_util:run(fun() ->
        alive = crash_nif:crash(none),
        {restart_limit, #{backoff_ms := 300}} = storm(),
        alive = recover(),
        worker_crashed = crash(),
        {restart_limit, #{backoff_ms := 600}} = next_info(),
        alive = recover(),
        {ok, T} = seconds(),
        timer:sleep(T * 1000 + 200),                        % quiet: no restart for T s
        {restart_limit, #{backoff_ms := 300}} = storm(),
        io:format("backoff_quiet: after ~p s without a restart the backoff is 300 ms again~n", [T])
    end).

%% NIFSHIM_BACKOFF=off: past the limit the library is given up for good.
backoff_off() ->
    test_util:run(fun() ->
        alive = crash_nif:crash(none),
        {restart_limit, #{retry_in_ms := infinity}} = storm(),
        #{state := gave_up} = worker(),
        #{backoff := off} = nifshim:policy(),
        timer:sleep(500),
        {restart_limit, _} = next_info(),
        ok = nifshim:restart(crash_nif),
        alive = crash_nif:crash(none),
        io:format("backoff_off: given up until nifshim:restart/1~n")
    end).

%% Crash until the limit (NIFSHIM_RESTARTS=2/T: the third death); the error of the next call.
storm() ->
    worker_crashed = crash(), alive = next(),
    worker_crashed = crash(), alive = next(),
    worker_crashed = crash(),
    next_info().

%% Calls until one is served again (a hang guard, not a timing check).
recover() -> recover(2000).
recover(0) -> fail("no fresh worker after the backoff", []);
recover(N) ->
    case next() of
        restart_limit -> timer:sleep(5), recover(N - 1);
        Other -> Other
    end.

crash() -> try crash_nif:crash(segv) catch error:{nifshim, K, _} -> K end.
next() -> element(1, next_info()).
next_info() -> try {crash_nif:crash(none), #{}} catch error:{nifshim, K, I} -> {K, I} end.

worker() ->
    [W] = [W || #{name := "crash_nif"} = W <- nifshim:workers()],
    W.

seconds() ->
    #{restarts := {_, T}} = nifshim:policy(),
    {ok, T}.

fail(Fmt, Args) -> test_util:fail(Fmt, Args).

%% NIFSHIM_CORE_DIR (set by the driver, with NIFSHIM_CORE_KEEP=2): each crash
%% leaves a core of the worker only, named in the exception, the report and
%% nifshim:workers(); at most two are kept.
cores() ->
    test_util:run(fun() ->
        Dir = os:getenv("NIFSHIM_CORE_DIR"),
        alive = crash_nif:crash(none),
        Cores = [begin
                     {worker_crashed, #{core := Core, signal := 'SIGSEGV'}} = crash_info(),
                     alive = crash_nif:crash(none),
                     Core
                 end || _ <- lists:seq(1, 3)],
        [true = lists:prefix(Dir ++ "/nif-crash_nif-", C) || C <- Cores],
        Left = lists:sort(filelib:wildcard(Dir ++ "/nif-crash_nif-*.core")),
        Left =:= lists:sort(tl(Cores)) orelse fail("cores left ~p, made ~p", [Left, Cores]),
        #{core := Last} = worker(),
        Last =:= lists:last(Cores) orelse fail("workers() core ~p", [Last]),
        io:format("~s~n", [lists:last(Cores)])
    end).

crash_info() -> try crash_nif:crash(segv) of R -> {returned, R} catch error:{nifshim, K, I} -> {K, I} end.
