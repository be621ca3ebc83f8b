%% The check a release under nifshim runs on itself once it has started
%% (tests/release/run.sh): a real NIF library (Debian's jiffy) isolated, the
%% nifshim module working in the release, a worker killed from outside and a
%% NIF crashing in a call (the test corpus's crash_nif) both survived and
%% reported. The result goes to the file $RELAPP_RESULT; the node then stops.
-module(relapp_check).
-export([start_link/0, run/0, check/0, log/2]).

start_link() ->
    {ok, spawn_link(fun() -> run() end)}.

run() ->
    Result = try check() of R -> R catch C:E:S -> {failed, C, E, S} end,
    ok = file:write_file(os:getenv("RELAPP_RESULT"), io_lib:format("~p.~n", [Result])),
    init:stop().

check() ->
    Doc = #{<<"a">> => [1, 2.5, <<"x">>], <<"b">> => null},
    Doc = jiffy:decode(jiffy:encode(Doc), [return_maps]),
    true = nifshim:active(),
    #{pid := Pid, state := running} = worker("jiffy"),
    ok = logger:add_handler(relapp_probe, ?MODULE, #{config => self()}),
    % Killed from outside between calls: the next call gets a fresh worker
    % and the death is reported.
    os:cmd("kill -SEGV " ++ integer_to_list(Pid)),
    ok = wait_dead("jiffy", 500),
    Doc = jiffy:decode(jiffy:encode(Doc), [return_maps]),
    #{what := nifshim_worker_crash, signal := 'SIGSEGV'} = report(),
    #{pid := Pid2, restarts := 1, crashes := 1, state := running} = worker("jiffy"),
    true = Pid2 =/= Pid,
    % A crash in a call: the caller gets the error, the next call is served.
    alive = crash_nif:crash(none),
    {error, {nifshim, worker_crashed, #{function := crash, signal := 'SIGSEGV'}}} =
        try crash_nif:crash(segv) catch error:E -> {error, E} end,
    alive = crash_nif:crash(none),
    #{what := nifshim_worker_crash} = report(),
    #{resident := _} = nifshim:memory(),
    #{restarts := _} = nifshim:policy(),
    {ok, [{jiffy_workers, [Pid, Pid2]}, {crash_nif, worker_crashed}]}.

worker(Name) ->
    [W] = [W || #{name := N} = W <- nifshim:workers(), N =:= Name],
    W.

report() -> receive {nifshim_report, R} -> R after 5000 -> no_report end.

%% Until the shim has seen the death (a call racing with it would get
%% worker_crashed, which this check does not test).
wait_dead(_, 0) -> still_alive;
wait_dead(Name, N) ->
    case worker(Name) of
        #{state := running} -> timer:sleep(10), wait_dead(Name, N - 1);
        #{} -> ok
    end.

%% A logger handler that passes nifshim's reports to the checking process.
log(#{msg := {report, #{what := nifshim_worker_crash} = R}}, #{config := Pid}) -> Pid ! {nifshim_report, R};
log(_, _) -> ok.
