%% What a NIF sees of its process (tests/nifs/procstate_nif.c): natively the
%% VM's whole process state; isolated, the worker's, which must match it
%% except where the README ("What a NIF sees") says why not.
-module(procstate).
-export([state/1, write_closed_pipe/0, open_fds/0, default_signal/1, sleep_ms/2]).
-export([run/1, compare/3, deaths/0, tty_before/0, tty_after/1, worker/0]).
-on_load(init/0).
-include_lib("kernel/include/file.hrl").

init() ->
    erlang:load_nif(filename:join(os:getenv("NIFSHIM_TEST_NIFS", "."), "procstate_nif"), 0).

state(_) -> erlang:nif_error(not_loaded).
write_closed_pipe() -> erlang:nif_error(not_loaded).
open_fds() -> erlang:nif_error(not_loaded).
default_signal(_) -> erlang:nif_error(not_loaded).
sleep_ms(_, _) -> erlang:nif_error(not_loaded).

-define(VAR, "PROCSTATE_VAR").

%% The state at boot, a pipe write, and the state after the VM changed what
%% it can change at run time, into File.
run(File) ->
    test_util:run(fun() ->
        Boot = with_vm_fds(state(?VAR)),
        Pipe = write_closed_pipe(),
        ok = file:set_cwd("/tmp"),
        true = os:putenv(?VAR, "changed at run time"),
        After = with_vm_fds(state(?VAR)),
        ok = file:write_file(File, term_to_binary([{boot, Boot}, {pipe, Pipe}, {changed, After}])),
        io:format("procstate: ~p entries, pipe ~p~n", [maps:size(Boot), Pipe])
    end).

%% The VM's own stdout and stderr, as the NIF's fd_kind/1 names them.
with_vm_fds(State) ->
    Vm = fun(Fd) ->
             {ok, I} = file:read_file_info("/proc/" ++ os:getpid() ++ "/fd/" ++ integer_to_list(Fd)),
             {I#file_info.major_device, I#file_info.inode}
         end,
    State#{vm_fd1 => Vm(1), vm_fd2 => Vm(2)}.

%% Signals that are the worker's by design: its crash handler
%% (worker/crash_report.cc), and ERTS's own handlers (SIGINT, SIGQUIT,
%% SIGUSR1, SIGTERM), which are code of beam.smp and default in the worker.
crash_signals() -> [4, 5, 6, 7, 8, 11, 24, 25, 31].

compare(NativeFile, OtherFile, Mode) ->
    test_util:run(fun() ->
        {ok, NB} = file:read_file(NativeFile),
        {ok, OB} = file:read_file(OtherFile),
        N = binary_to_term(NB),
        O = binary_to_term(OB),
        Same = fun(K) -> proplists:get_value(K, N) =:= proplists:get_value(K, O)
                             orelse test_util:fail("~s: ~p differs:~n native ~p~n ~s ~p",
                                                   [Mode, K, proplists:get_value(K, N), Mode,
                                                    proplists:get_value(K, O)]) end,
        Same(pipe),
        epipe = proplists:get_value(pipe, N),
        Checked = [compare_state(Mode, Phase, proplists:get_value(Phase, N), proplists:get_value(Phase, O))
                   || Phase <- [boot, changed]],
        io:format("~s = native: ~p entries in 2 phases; EPIPE alike~n", [Mode, hd(Checked)])
    end).

compare_state(Mode, Phase, N, O) ->
    Fail = fun(K, NV, OV) -> test_util:fail("~s, ~p: ~p differs:~n native ~p~n ~s ~p",
                                            [Mode, Phase, K, NV, Mode, OV]) end,
    %% Its own session and process group (the terminal's signals are the VM's).
    maps:get(sid, O) =:= maps:get(pid, O) andalso maps:get(pgid, O) =:= maps:get(pid, O)
        orelse Fail(session, {maps:get(sid, N), maps:get(pgid, N)}, {maps:get(sid, O), maps:get(pgid, O)}),
    %% stdin is /dev/null; stdout and stderr are the VM's.
    {ok, Null} = file:read_file_info("/dev/null"),
    {chr, _, Ino} = maps:get(fd0, O),
    Ino =:= element(#file_info.inode, Null) orelse Fail(fd0, maps:get(fd0, N), maps:get(fd0, O)),
    {NSigs, NMask} = maps:get(signals, N),
    {OSigs, OMask} = maps:get(signals, O),
    NMask =:= OMask orelse Fail(signal_mask, NMask, OMask),
    [case {lists:member(S, crash_signals()), ND, OD} of
         {true, _, handler} -> ok;
         {false, handler, dfl} when S =:= 2; S =:= 3; S =:= 10; S =:= 15 -> ok;
         {false, Same, Same} -> ok;
         _ -> Fail({signal, S}, ND, OD)
     end || {{S, ND}, {S, OD}} <- lists:zip(NSigs, OSigs)],
    [{_, Dev, In} = maps:get(F, O) || {F, {Dev, In}} <- [{fd1, maps:get(vm_fd1, O)}, {fd2, maps:get(vm_fd2, O)}]],
    Keys = [locale, umask, rlimits, cwd, getenv, enif_getenv, 'TZ', localtime],
    [maps:get(K, N) =:= maps:get(K, O) orelse Fail(K, maps:get(K, N), maps:get(K, O)) || K <- Keys],
    length(Keys) + 4.

%% The worker's pid, as a string (nifshim:workers/0: /proc need not be read).
worker() ->
    [Pid] = [P || #{name := "procstate_nif", pid := P, state := running} <- nifshim:workers()],
    integer_to_list(Pid).

%% A worker killed by a signal, whoever sent it: the caller's exception and
%% the log line name that signal. SIGPIPE and a sent SIGFPE are ignored, as
%% by the VM (a fault's SIGFPE is a crash: the crashes case), SIGPIPE until
%% the NIF sets it to its default.
deaths() ->
    test_util:run(fun() ->
        Got = [killed_in_call(S, Name) || {S, Name} <- [{"KILL", 'SIGKILL'}, {"TERM", 'SIGTERM'},
                                                          {"INT", 'SIGINT'}]],
        _ = open_fds(),
        W = worker(),
        _ = os:cmd("kill -PIPE " ++ W),
        _ = os:cmd("kill -FPE " ++ W),
        epipe = write_closed_pipe(),
        W = worker(),  % alive: SIGPIPE and a sent SIGFPE are ignored, as by the VM
        ok = default_signal(13),
        Pipe = killed_in_call("PIPE", 'SIGPIPE'),
        io:format("deaths: ~w~n", [Got ++ [Pipe]])
    end).

killed_in_call(Sig, Name) ->
    _ = open_fds(),
    W = worker(),
    Marker = "/tmp/procstate." ++ os:getpid() ++ "." ++ Sig,
    _ = file:delete(Marker),
    Self = self(),
    P = spawn(fun() -> Self ! {self(), try sleep_ms(60000, Marker) catch error:E -> E end} end),
    ok = wait_for_file(Marker, 6000),
    _ = file:delete(Marker),
    _ = os:cmd("kill -" ++ Sig ++ " " ++ W),
    receive
        {P, {nifshim, worker_crashed, #{signal := Name, reason := Reason}}} -> {Name, Reason};
        {P, Other} -> test_util:fail("kill -~s: ~p", [Sig, Other])
    end.

wait_for_file(_, 0) -> test_util:fail("the call never started", []);
wait_for_file(F, N) ->
    case filelib:is_file(F) of
        true -> ok;
        false -> timer:sleep(10), wait_for_file(F, N - 1)
    end.

%% The terminal case (tests/tools/terminal_break.py): workers of two
%% libraries, a resource, and a call in flight across Ctrl-C and `c`.
tty_before() ->
    R = api_resources:new(3, 11),
    _ = open_fds(),
    Marker = "/tmp/procstate." ++ os:getpid() ++ ".tty",
    _ = file:delete(Marker),
    Holder = spawn(fun() ->
                       Res = sleep_ms(5000, Marker),
                       receive {get, From} -> From ! {call, Res, api_resources:value(R)} end
                   end),
    register(procstate_tty, Holder),
    ok = wait_for_file(Marker, 6000),
    _ = file:delete(Marker),
    Ws = lists:sort([P || #{pid := P, state := running} <- nifshim:workers()]),
    io:format("TTY-BEFORE ~s~n", [lists:join(",", [integer_to_list(W) || W <- Ws])]).

tty_after(Before) ->
    procstate_tty ! {get, self()},
    Got = receive {call, Res, V} -> {Res, V} end,
    Ws = lists:sort([P || #{pid := P, state := running} <- nifshim:workers()]),
    Now = lists:flatten(lists:join(",", [integer_to_list(W) || W <- Ws])),
    case {Got, Now} of
        {{ok, 11}, Before} -> io:format("TTY-OK workers ~s~n", [Now]);
        _ -> io:format("TTY-FAIL call and resource ~p, workers ~s before, ~s after~n", [Got, Before, Now])
    end.
