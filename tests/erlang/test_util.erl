%% Helpers shared by the Erlang test modules: running a case (halt 0 on
%% success, 1 with the reason on failure) and reading /proc.
-module(test_util).
-export([run/1, fail/2]).
-export([read/2, children/1, descendants/1, pids_named/1, stat/1]).

%% Runs F; the VM halts with 0 if it returns, with 1 if it fails.
run(F) ->
    try F() of
        _ -> halt(0)
    catch
        throw:{test_failed, Text} -> io:format("FAIL: ~s~n", [Text]), halt(1);
        C:R:S -> io:format("FAIL: ~p:~p~n~p~n", [C, R, S]), halt(1)
    end.

-spec fail(io:format(), [term()]) -> no_return().
fail(Fmt, Args) -> throw({test_failed, io_lib:format(Fmt, Args)}).

%% The text of /proc/PID/What ("" if the process is gone).
read(Pid, What) -> os:cmd("cat /proc/" ++ Pid ++ "/" ++ What ++ " 2>/dev/null").

%% Direct children of Pid, as [{PidString, Comm}].
children(Pid) -> [{P, C} || {P, Parent, C} <- procs(), Parent =:= Pid].

%% Processes below Pid, as [{PidString, Comm}].
descendants(Pid) -> descendants([Pid], procs(), []).

descendants([], _, Acc) -> Acc;
descendants([P | Rest], Procs, Acc) ->
    Kids = [{C, Comm} || {C, Parent, Comm} <- Procs, Parent =:= P],
    descendants(Rest ++ [C || {C, _} <- Kids], Procs, Acc ++ Kids).

pids_named(Name) -> [P || {P, _, Comm} <- procs(), Comm =:= Name].

procs() ->
    {ok, Names} = file:list_dir("/proc"),
    [{P, Parent, Comm} || P <- Names, lists:all(fun(C) -> C >= $0 andalso C =< $9 end, P),
                          {Parent, Comm} <- [stat(P)]].

%% {ParentPid, Comm} from /proc/PID/stat, or [] if the process is gone.
stat(P) ->
    case string:trim(read(P, "stat")) of
        "" -> [];
        S ->
            [_, AfterComm] = string:split(S, "("),
            [Comm, Rest] = string:split(AfterComm, ") ", trailing),
            [_State, Parent | _] = string:split(Rest, " ", all),
            {Parent, Comm}
    end.
