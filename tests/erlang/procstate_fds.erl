%% The worker holds none of the VM's descriptors (tests/nifs/procstate_nif.c).
%% Not in procstate.erl: the sockets must be open before that module, and so
%% its worker, is loaded.
-module(procstate_fds).
-export([fds_closed/0]).

%% A listener and a connection the VM closes are closed for the peer at once:
%% the worker holds none of the VM's descriptors, after a restart too; it
%% holds only its own (0-2, the window, the control and fd-passing sockets),
%% its own close-on-exec.
fds_closed() ->
    test_util:run(fun() ->
        S1 = sockets(),
        {module, procstate} = code:ensure_loaded(procstate),  % the worker starts now: S1 open
        W1 = procstate:worker(),
        closed_for_peer(S1, "first worker"),
        F1 = worker_fds(W1),
        S2 = sockets(),
        ok = nifshim:restart("procstate_nif"),
        gone(list_to_integer(W1), 500),
        F2 = procstate:open_fds(),  % a fresh worker, started with S2 open in the VM
        W2 = procstate:worker(),
        W2 =/= W1 orelse test_util:fail("not restarted: ~s", [W1]),
        closed_for_peer(S2, "restarted worker"),
        F2 = worker_fds(W2),
        io:format("fds_closed: closed for the peer at once, workers ~s and ~s; their fds ~w~n",
                  [W1, W2, [Fd || {Fd, _, _} <- F1]])
    end).

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
    _ = procstate:open_fds(),
    ok = gen_tcp:close(A),
    ok = gen_tcp:close(L),
    R = gen_tcp:recv(C, 0, 5000),
    {error, closed} =:= R orelse test_util:fail("~s: the peer's recv got ~p", [When, R]),
    R2 = gen_tcp:connect({127, 0, 0, 1}, Port, [], 5000),
    {error, econnrefused} =:= R2 orelse test_util:fail("~s: a new connect got ~p", [When, R2]),
    gen_tcp:close(C).

%% The worker's descriptors, from the NIF and from /proc/PID/fd alike.
worker_fds(W) ->
    Fds = procstate:open_fds(),
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

