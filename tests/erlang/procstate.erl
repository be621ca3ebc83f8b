%% What a NIF sees of its process (tests/nifs/procstate_nif.c): natively the
%% VM's whole process state; isolated, the worker's, which must match it
%% except where the README ("What a NIF sees") says why not.
-module(procstate).
-export([state/1, write_closed_pipe/0, open_fds/0, default_signal/1, sleep_ms/2]).
-export([run/1, compare/3, fds_closed/0, deaths/0, tty_before/0, tty_after/1]).
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
    [{_, Dev, Ino} = maps:get(F, O) || {F, {Dev, Ino}} <- [{fd1, maps:get(vm_fd1, O)}, {fd2, maps:get(vm_fd2, O)}]],
    %% Rebuilt mode does not see beam.smp's chdir (README "What a NIF sees").
    Cwd = [cwd || Mode =/= "rebuilt" orelse Phase =:= boot],
    Keys = [locale, umask, rlimits, getenv, enif_getenv, 'TZ', localtime] ++ Cwd,
    [maps:get(K, N) =:= maps:get(K, O) orelse Fail(K, maps:get(K, N), maps:get(K, O)) || K <- Keys],
    length(Keys) + 4.

%% A listener and a connection the VM closes are closed for the peer at once:
%% the worker holds none of the VM's descriptors, after a restart too; it
%% holds only its own (0-2, the window, the control and fd-passing sockets),
%% its own close-on-exec.
fds_closed() ->
    test_util:run(fun() ->
        S1 = sockets(),
        {module, procstate} = code:ensure_loaded(procstate),  % the worker starts now
        W1 = worker(),
        closed_for_peer(S1, "first worker"),
        F1 = worker_fds(W1),
        S2 = sockets(),
        ok = nifshim:restart("procstate_nif"),
        gone(list_to_integer(W1), 500),
        F2 = open_fds(),  % a fresh worker, started with S2 open in the VM
        W2 = worker(),
        W2 =/= W1 orelse test_util:fail("not restarted: ~s", [W1]),
        closed_for_peer(S2, "restarted worker"),
        F2 = worker_fds(W2),
        io:format("fds_closed: closed for the peer at once, workers ~s and ~s; their fds ~w~n",
                  [W1, W2, [Fd || {Fd, _, _} <- F1]])
    end).

%% The worker's pid, as a string (nifshim:workers/0: /proc need not be read).
worker() ->
    [Pid] = [P || #{name := "procstate_nif", pid := P, state := running} <- nifshim:workers()],
    integer_to_list(Pid).

gone(W, 0) -> test_util:fail("worker ~s still running", [W]);
gone(W, N) ->
    case [P || #{name := "procstate_nif", pid := P, state := running} <- nifshim:workers()] of
        [P] when P =:= W -> timer:sleep(10), gone(W, N - 1);
        _ -> ok
    end.

sockets() ->
    {ok, L} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}]),
    {ok, Port} = inet:port(L),
    {ok, C} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}]),
    {ok, A} = gen_tcp:accept(L),
    {L, Port, C, A}.

%% The 5 s are a hang guard: natively both answers come at once.
closed_for_peer({L, Port, C, A}, When) ->
    _ = open_fds(),
    ok = gen_tcp:close(A),
    ok = gen_tcp:close(L),
    R = gen_tcp:recv(C, 0, 5000),
    {error, closed} =:= R orelse test_util:fail("~s: the peer's recv got ~p", [When, R]),
    R2 = gen_tcp:connect({127, 0, 0, 1}, Port, [], 5000),
    {error, econnrefused} =:= R2 orelse test_util:fail("~s: a new connect got ~p", [When, R2]),
    gen_tcp:close(C).

%% The worker's descriptors, from the NIF and from /proc/PID/fd alike.
worker_fds(W) ->
    Fds = open_fds(),
    Proc = lists:sort([list_to_integer(F) || F <- string:lexemes(os:cmd("ls /proc/" ++ W ++ "/fd"), "\n")]),
    Proc =:= [Fd || {Fd, _, _} <- Fds] orelse test_util:fail("/proc/~s/fd ~p, the NIF sees ~p", [W, Proc, Fds]),
    Ok = fun({0, "/dev/null", inherited}) -> true;
            ({Fd, _, inherited}) when Fd =:= 1; Fd =:= 2 -> true;
            ({3, "/memfd:" ++ _, cloexec}) -> true;
            ({Fd, "socket:" ++ _, cloexec}) when Fd =:= 4; Fd =:= 5 -> true;
            (_) -> false end,
    [] =:= [F || F <- Fds, not Ok(F)] orelse test_util:fail("worker ~s holds ~p", [W, Fds]),
    length(Fds) =:= 6 orelse test_util:fail("worker ~s holds ~p", [W, Fds]),
    Fds.

%% A worker killed by a signal, whoever sent it: the caller's exception and
%% the log line name that signal. SIGPIPE is ignored, as by the VM, until the
%% NIF sets it to its default.
deaths() ->
    test_util:run(fun() ->
        Got = [killed_in_call(S, Name) || {S, Name} <- [{"KILL", 'SIGKILL'}, {"TERM", 'SIGTERM'},
                                                          {"INT", 'SIGINT'}]],
        _ = open_fds(),
        W = worker(),
        _ = os:cmd("kill -PIPE " ++ W),
        epipe = write_closed_pipe(),
        W = worker(),  % alive: SIGPIPE is ignored
        ok = default_signal(13),
        Pipe = killed_in_call("PIPE", 'SIGPIPE'),
        io:format("deaths: ~p~n", [Got ++ [Pipe]])
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
