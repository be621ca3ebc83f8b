%% Erlang-level tests of NIF isolation, run in a VM started with the shim
%% (tests/erlang/run_case.sh). Each exported case prints what it checked and
%% halts with 0 (pass) or 1 (fail).
-module(isolation_tests).
-export([nifshim_module/0, nifshim_without_shim/0, dead_upgrade/0, cpu_limit/0, worker_pid/1,
         global_scope/0, idle_workers/0, affinity_kept/0]).
-export([crypto_storm/1, fault/2, crash_outside/0, deadline/0, oom/0, logger_report/0, log/2, storm/0, cycles/2]).
-export([select_race/0, select_halt/0]).
-export([restart_resources/0, restart_select/0, restart_limit/0, follows_cwd/0, only_in_worker/0, rebuilt_only_in_worker/0, rebuilt_with_preload/0, worker_cannot_start/0, killed_worker/0, compare/2, compare/3, crash/1]).

%% file:set_cwd/1 in the VM moves the worker too: relative paths resolve alike.
follows_cwd() ->
    run(fun() ->
        {ok, Start} = file:get_cwd(),
        Start = window_probe:cwd(),
        Dirs = ["/tmp", "/", Start],
        [begin
             ok = file:set_cwd(D),
             {ok, Now} = file:get_cwd(),
             Now =:= window_probe:cwd() orelse fail("VM in ~s, NIF in ~s", [Now, window_probe:cwd()])
         end || D <- Dirs],
        io:format("follows_cwd: the NIF followed ~p directory changes~n", [length(Dirs)])
    end).

%% The real libraries are mapped in their workers, never in beam.smp.
only_in_worker() ->
    run(fun() ->
        Mods = [api_terms, api_binmap, api_resources, api_threads, api_misc, api_select, crypto],
        [{module, M} = code:ensure_loaded(M) || M <- Mods],
        _ = api_terms:make_nums(),
        crypto:hash(sha256, <<"x">>),
        Nifs = os:getenv("NIFSHIM_TEST_NIFS"),
        Libs = [filename:join(Nifs, atom_to_list(M) ++ "_nif.so") || M <- Mods, M =/= crypto]
               ++ [filename:join(code:priv_dir(crypto), "lib/crypto.so")],
        Me = os:getpid(),
        Workers = [{P, C} || {P, C} <- children(Me), lists:prefix("nif:", C)],
        length(Workers) >= length(Libs) orelse fail("~p workers for ~p libraries: ~p",
                                                    [length(Workers), length(Libs), Workers]),
        BeamMaps = maps_of(Me),
        WorkerMaps = lists:append([maps_of(P) || {P, _} <- Workers]),
        [begin
             string:find(BeamMaps, L) =:= nomatch orelse fail("~s is mapped in beam.smp", [L]),
             string:find(WorkerMaps, L) =/= nomatch orelse fail("~s is in no worker", [L])
         end || L <- Libs],
        io:format("only_in_worker: ~p libraries mapped only in their ~p workers (~p)~n",
                  [length(Libs), length(Workers), [C || {_, C} <- Workers]])
    end).

%% Rebuilt mode, plain erl: each library linked against the shim runs in a
%% worker; its file is mapped there and not in beam.smp.
rebuilt_only_in_worker() ->
    rebuilt_isolated_once("rebuilt_only_in_worker").

%% Rebuilt libraries in a VM with the preload: isolated once, the zero-copy
%% way (the preload's loader takes them before they are ever mapped).
rebuilt_with_preload() ->
    rebuilt_isolated_once("rebuilt_with_preload").

rebuilt_isolated_once(Name) ->
    run(fun() ->
        Mods = [api_terms, api_binmap, api_resources, api_threads, api_misc, api_select, crash_nif],
        [{module, M} = code:ensure_loaded(M) || M <- Mods],
        _ = api_terms:make_nums(),
        alive = crash_nif:crash(none),
        Nifs = os:getenv("NIFSHIM_TEST_NIFS"),
        lists:suffix("/rebuilt", Nifs) orelse fail("not the rebuilt corpus: ~s", [Nifs]),
        Libs = [filename:join(Nifs, atom_to_list(M) ++ case M of crash_nif -> ".so"; _ -> "_nif.so" end)
                || M <- Mods],
        Me = os:getpid(),
        Workers = [{P, C} || {P, C} <- children(Me), lists:prefix("nif:", C)],
        length(Workers) =:= length(Libs) orelse fail("~p workers for ~p libraries: ~p",
                                                     [length(Workers), length(Libs), Workers]),
        BeamMaps = maps_of(Me),
        [begin
             string:find(BeamMaps, L) =:= nomatch orelse fail("~s is mapped in beam.smp", [L]),
             Holders = [P || {P, _} <- Workers, string:find(maps_of(P), L) =/= nomatch],
             length(Holders) =:= 1 orelse fail("~s is mapped in ~p workers", [L, length(Holders)])
         end || L <- Libs],
        io:format("~s: ~p libraries, each in exactly one worker, none mapped in beam.smp~n",
                  [Name, length(Libs)])
    end).

%% A worker that cannot start: load_nif fails like a failed dlopen, the VM lives.
worker_cannot_start() ->
    run(fun() ->
        R = (catch code:ensure_loaded(api_terms)),
        {error, on_load_failure} =:= R orelse fail("loaded anyway: ~p", [R]),
        Dir = os:getenv("NIFSHIM_TEST_NIFS"),
        {error, {load_failed, Text}} = erlang:load_nif(filename:join(Dir, "api_terms_nif"), 0),
        string:find(Text, "worker program /nonexistent/nifshim-worker not found") =/= nomatch
            orelse fail("unexpected text: ~s", [Text]),
        io:format("worker_cannot_start: {error, {load_failed, ~p}}~n", [Text])
    end).

%% A worker killed from outside between calls: the next call is served by a
%% fresh worker (the library loaded again, load run again); the VM lives.
killed_worker() ->
    run(fun() ->
        Want = api_terms:make_nums(),
        Pid = worker_pid("nif:api_terms"),
        os:cmd("kill -9 " ++ Pid),
        timer:sleep(100),
        Got = try api_terms:make_nums() of V -> V catch error:E -> E end,
        Got =:= Want orelse fail("after kill -9: ~p", [Got]),
        Pid2 = worker_pid("nif:api_terms"),
        Pid2 =/= Pid orelse fail("the same worker ~s answered", [Pid]),
        io:format("killed_worker: worker ~s killed; ~s answered the next call alike~n", [Pid, Pid2])
    end).

%% Resources across a restart: the dead worker's objects are refused like a
%% wrong type and their destructor never runs in the new worker; new objects work.
restart_resources() ->
    run(fun() ->
        Old = api_resources:new(3, 11),
        11 = api_resources:value(Old),
        Pid = worker_pid("nif:api_resources"),
        os:cmd("kill -9 " ++ Pid),
        timer:sleep(100),
        0 = api_resources:dtors(3),  % served by the new worker: counters start afresh
        Refused = try api_resources:value(Old) catch error:badarg -> badarg end,
        badarg =:= Refused orelse fail("old resource accepted: ~p", [Refused]),
        New = api_resources:new(3, 22),
        22 = api_resources:value(New),
        %% After a few answers the new worker reads resources in place
        %% (worker/enif_direct_resource.cc): it still refuses the old one.
        [22 = api_resources:value(New) || _ <- lists:seq(1, 5)],
        Refused2 = try api_resources:value(Old) catch error:badarg -> badarg end,
        badarg =:= Refused2 orelse fail("old resource accepted in place: ~p", [Refused2]),
        Drop = fun() -> _ = api_resources:new(3, 33), ok end,
        ok = Drop(),
        erlang:garbage_collect(),
        _ = erlang:garbage_collect(self()),
        put(old, Old), erase(old),
        wait_until(fun() -> api_resources:dtors(3) =:= 1 end),
        timer:sleep(50),
        erlang:garbage_collect(),
        %% One major GC freed the old object and the dropped new one: only the
        %% latter's destructor ran. New is still alive.
        1 = api_resources:dtors(3),
        22 = api_resources:value(New),
        io:format("restart_resources: old object refused, its dtor skipped; new objects work~n")
    end).

%% A worker killed while ERTS selects descriptors for its NIF: the VM's
%% copies are stopped and closed (ERTS would otherwise poll them, and keep
%% their resources, for good); the next worker selects afresh.
restart_select() ->
    run(fun() ->
        Fds = fun() -> {ok, L} = file:list_dir("/proc/self/fd"), length(L) end,
        R0 = api_select:open(pipe),  % the worker runs
        Before = Fds(),
        Rs = [begin
                  R = api_select:open(pipe),
                  {ok, _} = api_select:select(R, read, read, make_ref(), self),
                  R
              end || _ <- lists:seq(1, 5)],
        During = Fds(),
        During >= Before + 5 orelse fail("the VM holds ~p fds while 5 are selected, ~p before", [During, Before]),
        os:cmd("kill -9 " ++ worker_pid("nif:api_select")),
        ok = wait_until(fun() -> Fds() =< Before end),
        R = api_select:open(pipe),
        Ref = make_ref(),
        {ok, _} = api_select:select(R, read, read, Ref, self),
        _ = api_select:write(R, <<"after">>),
        receive {select, _, Ref, ready_input} -> ok after 5000 -> fail("no ready_input from the new worker", []) end,
        put(rs, {R0, Rs}),
        io:format("restart_select: ~p fds with 5 selected, back to ~p after the kill; the new worker selects~n",
                  [During, Fds()])
    end).

%% enif_select from several processes at once (several worker threads
%% passing descriptors to the VM): each pipe is selected, becomes readable,
%% is stopped and closed by the NIF's stop callback, and its number is soon
%% reused by another process's new pipe. Every select works, every stop
%% arrives, and the VM's copies are all closed again. Natively too.
select_race() ->
    run(fun() ->
        Fds = fun() -> {ok, L} = file:list_dir("/proc/self/fd"), length(L) end,
        _ = api_select:open(pipe),  % the worker runs
        Before = Fds(),
        Procs = 8, Rounds = 1000,
        Parent = self(),
        Ws = [spawn_link(fun() -> Parent ! {self(), select_rounds(Rounds, 0)} end) || _ <- lists:seq(1, Procs)],
        Done = [receive {W, N} -> N after 60000 -> fail("a selecting process hangs", []) end || W <- Ws],
        Done =:= lists:duplicate(Procs, Rounds) orelse fail("rounds done: ~p", [Done]),
        ok = wait_until(fun() -> Fds() =< Before end),
        io:format("select_race: ~p processes x ~p pipes selected, readable, stopped at once; the VM's fds back to ~p~n",
                  [Procs, Rounds, Fds()])
    end).

select_rounds(0, Done) -> Done;
select_rounds(N, Done) ->
    R = api_select:open(pipe),
    Ref = make_ref(),
    {ok, _} = api_select:select(R, read, read, Ref, self),
    1 = api_select:write(R, <<"x">>),
    receive {select, R, Ref, ready_input} -> ok after 5000 -> fail("no ready_input", []) end,
    <<"x">> = api_select:read(R),
    {ok, _} = api_select:select(R, read, stop, Ref, self),
    receive {api_stop, read, 1} -> ok after 5000 -> fail("no stop callback", []) end,
    select_rounds(N - 1, Done + 1).

%% halt() while processes select and stop descriptors: the VM exits with 0
%% (the shim's state outlives exit(): nothing destroyed under a scheduler).
select_halt() ->
    [spawn(fun() -> select_forever() end) || _ <- lists:seq(1, 4)],
    timer:sleep(200),
    halt(0).

select_forever() ->
    R = api_select:open(pipe),
    Ref = make_ref(),
    _ = api_select:select(R, read, read, Ref, self),
    _ = api_select:select(R, read, stop, Ref, self),
    select_forever().

%% The restart policy: NIFSHIM_RESTARTS=2/60 (set by the test driver) allows
%% two restarts, then callers get restart_limit at once.
restart_limit() ->
    run(fun() ->
        alive = crash_nif:crash(none),
        Crash = fun() -> try crash_nif:crash(segv) catch error:{nifshim, K, _} -> K end end,
        Next = fun() -> try crash_nif:crash(none) catch error:{nifshim, K, _} -> K end end,
        [worker_crashed, alive, worker_crashed, alive, worker_crashed, restart_limit, restart_limit] =
            Got = [Crash(), Next(), Crash(), Next(), Crash(), Next(), Next()],
        io:format("restart_limit: ~p~n", [Got])
    end).

%% Crashes outside any call: a resource destructor run by the GC of an
%% exiting process, and a thread the NIF created. The VM lives; the next call
%% gets a fresh worker.
crash_outside() ->
    run(fun() ->
        alive = crash_nif:crash(none),
        Pid1 = worker_pid("nif:crash_nif"),
        {P, M} = spawn_monitor(fun() -> _ = crash_nif:crash(bomb), ok end),
        receive {'DOWN', M, process, P, _} -> ok end,
        wait_until(fun() -> not lists:member(Pid1, [W || {W, _} <- children(os:getpid())]) end),
        alive = crash_nif:crash(none),
        Pid2 = worker_pid("nif:crash_nif"),
        Pid2 =/= Pid1 orelse fail("the bomb's destructor did not kill the worker", []),
        started = crash_nif:crash(thread),
        wait_until(fun() -> not lists:member(Pid2, [W || {W, _} <- children(os:getpid())]) end),
        alive = crash_nif:crash(none),
        Pid3 = worker_pid("nif:crash_nif"),
        Pid3 =/= Pid2 orelse fail("the thread's crash did not kill the worker", []),
        io:format("crash_outside: destructor crash and thread crash contained; workers ~s, ~s, ~s~n",
                  [Pid1, Pid2, Pid3])
    end).

%% NIFSHIM_DEADLINE=crash_nif=300 (set by the driver): a hanging call raises
%% timeout well before it would return, the worker is killed and restarted.
deadline() ->
    run(fun() ->
        T0 = erlang:monotonic_time(millisecond),
        Got = try crash_nif:crash(hang) catch error:{nifshim, K, I} -> {K, I} end,
        Ms = erlang:monotonic_time(millisecond) - T0,
        {timeout, #{deadline_ms := 300, function := crash}} = Got,
        Ms < 5000 orelse fail("timeout took ~p ms", [Ms]),
        alive = crash_nif:crash(none),
        io:format("deadline: timeout after ~p ms (deadline 300); the next call is served~n", [Ms])
    end).

%% NIFSHIM_WORKER_MEMORY=64M (set by the driver): a NIF that allocates
%% without end gets NULL from malloc and aborts; only its worker dies.
oom() ->
    run(fun() ->
        Got = try crash_nif:crash(oom) catch error:{nifshim, K, I} -> {K, I} end,
        {worker_crashed, #{signal := 'SIGABRT'}} = Got,
        alive = crash_nif:crash(none),
        io:format("oom: the allocating NIF hit the worker's memory limit and aborted alone~n")
    end).

%% Every crash reaches logger as a report with the same fields.
logger_report() ->
    run(fun() ->
        ok = logger:add_handler(nifshim_test, ?MODULE, #{config => #{pid => self()}}),
        {nifshim, worker_crashed, Info} = try crash_nif:crash(segv) catch error:E -> E end,
        receive
            {logged, error, #{what := nifshim_worker_crash} = Report} ->
                [maps:get(K, Info) =:= maps:get(K, Report) orelse fail("~p differs", [K])
                 || K <- [library, function, pid, reason, signal, fault_address, exit_status, backtrace]]
        after 5000 -> fail("no logger report", [])
        end,
        %% A crash nobody is calling into (a NIF thread) is reported too.
        started = crash_nif:crash(thread),
        receive
            {logged, error, #{what := nifshim_worker_crash, function := undefined, signal := 'SIGSEGV'}} -> ok
        after 5000 -> fail("no logger report for a crash outside a call", [])
        end,
        io:format("logger_report: crashes in and outside a call reported with the exception's fields~n")
    end).

log(#{level := Level, msg := {report, Report}}, #{config := #{pid := Pid}}) ->
    Pid ! {logged, Level, Report};
log(_, _) ->
    ok.

%% A crash storm: every scheduler and dirty scheduler calls the library while
%% its worker is crashed over and over. Every call returns its result or
%% raises a nifshim exception; none hangs, none is lost.
storm() ->
    run(fun() ->
        alive = crash_nif:crash(none),
        Callers = erlang:system_info(schedulers) * 8,
        Parent = self(),
        Until = erlang:monotonic_time(millisecond) + 3000,
        Call = fun(F) -> try crash_nif:F(none) of alive -> alive catch error:{nifshim, K, _} -> K end end,
        Loop = fun Loop(F, Acc) ->
                   case erlang:monotonic_time(millisecond) < Until of
                       true -> Loop(F, [Call(F) | Acc]);
                       false -> Acc
                   end
               end,
        Pids = [spawn_link(fun() -> Parent ! {done, self(), Loop(F, [])} end)
                || I <- lists:seq(1, Callers), F <- [case I rem 4 of 0 -> crash_dirty; _ -> crash end]],
        Crasher = spawn_link(fun() -> Parent ! {crashes, crash_loop(Until, 0)} end),
        Outcomes = lists:append([receive {done, P, R} -> R after 30000 -> fail("caller ~p hung", [P]) end
                                 || P <- Pids]),
        Crashes = receive {crashes, N} -> N after 30000 -> fail("crasher hung", []) end,
        _ = Crasher,
        Counts = lists:foldl(fun(O, M) -> maps:update_with(O, fun(C) -> C + 1 end, 1, M) end, #{}, Outcomes),
        [fail("unexpected outcome ~p", [O]) || O <- maps:keys(Counts),
                                               not lists:member(O, [alive, worker_crashed, worker_unavailable])],
        maps:get(alive, Counts, 0) > 0 orelse fail("no call succeeded: ~p", [Counts]),
        alive = crash_nif:crash(none),
        io:format("storm: ~p callers, ~p calls, ~p crashes, outcomes ~w~n",
                  [Callers, length(Outcomes), Crashes, Counts])
    end).

crash_loop(Until, N) ->
    case erlang:monotonic_time(millisecond) < Until of
        true ->
            _ = (catch crash_nif:crash(segv)),
            timer:sleep(20),
            crash_loop(Until, N + 1);
        false -> N
    end.

%% N crash/restart cycles: the VM's descriptors, threads and memory do not grow.
cycles(N, RssLimitKiB) ->
    run(fun() ->
        Cycle = fun() ->
                    {nifshim, worker_crashed, _} = try crash_nif:crash(segv) catch error:E -> E end,
                    T = erlang:monotonic_time(microsecond),
                    alive = crash_nif:crash(none),  % served by a restarted worker
                    Lat = erlang:monotonic_time(microsecond) - T,
                    7 = bench_nif:noop(7),  % another library, alive all along
                    Lat
                end,
        [Cycle() || _ <- lists:seq(1, 20)],  % warm up: channels, caches, logger
        ok = all_schedulers_noop(10),  % every scheduler has its channel to bench_nif
        erlang:garbage_collect(),
        Before = usage(),
        [#{pid := Bench}] = [W || #{name := "bench_nif"} = W <- nifshim:workers()],
        BenchThreads0 = thread_count(integer_to_list(Bench)),
        #{window_free := Free0} = nifshim:memory(),
        T0 = erlang:monotonic_time(millisecond),
        Latencies = lists:sort([Cycle() || _ <- lists:seq(1, N)]),
        Ms = erlang:monotonic_time(millisecond) - T0,
        Zombies = [P || {P, _} <- children(os:getpid()),
                        string:find(os:cmd("cat /proc/" ++ P ++ "/stat"), ") Z ") =/= nomatch],
        Zombies =:= [] orelse fail("zombies: ~p", [Zombies]),
        erlang:garbage_collect(),
        After = usage(),
        #{fds := F0, threads := Th0, erts_bytes := E0, rss_kb := R0} = Before,
        #{fds := F1, threads := Th1, erts_bytes := E1, rss_kb := R1} = After,
        F1 =< F0 orelse fail("descriptors grew: ~p -> ~p", [F0, F1]),
        %% A restart takes over the dead worker's channels (1 MiB each in the
        %% window): the window's free address space stays put.
        #{window_free := Free1} = nifshim:memory(),
        Free0 - Free1 < 64 bsl 20
            orelse fail("the window's free space shrank by ~p MiB", [(Free0 - Free1) bsr 20]),
        %% Each restart is a new worker for every VM thread's channel table:
        %% the live library keeps its channels (and its worker its threads).
        BenchThreads1 = thread_count(integer_to_list(Bench)),
        BenchThreads1 =< BenchThreads0
            orelse fail("the live bench_nif worker's threads grew: ~p -> ~p", [BenchThreads0, BenchThreads1]),
        Th1 =< Th0 orelse fail("threads grew: ~p -> ~p", [Th0, Th1]),
        E1 - E0 < 4 bsl 20 orelse fail("ERTS memory grew by ~p bytes", [E1 - E0]),
        R1 - R0 < RssLimitKiB orelse fail("RSS grew by ~p KiB", [R1 - R0]),
        io:format("cycles: ~p crash/restart cycles in ~p ms; restart latency (crash to the next call "
                  "served) median ~p us, p90 ~p us; fds ~p -> ~p, threads ~p -> ~p, "
                  "ERTS memory ~w bytes, RSS ~w KiB, window free space ~w MiB, no zombies; "
                  "the live bench_nif worker kept its ~p threads~n",
                  [N, Ms, lists:nth(N div 2, Latencies), lists:nth(N * 9 div 10, Latencies),
                   F0, F1, Th0, Th1, E1 - E0, R1 - R0, (Free1 - Free0) div (1 bsl 20), BenchThreads1])
    end).

thread_count(Pid) ->
    [L] = [L || L <- string:split(test_util:read(Pid, "status"), "\n", all), lists:prefix("Threads:", L)],
    list_to_integer(string:trim(string:prefix(L, "Threads:"))).

usage() ->
    Me = os:getpid(),
    {ok, Fds} = file:list_dir("/proc/" ++ Me ++ "/fd"),
    Status = os:cmd("cat /proc/" ++ Me ++ "/status"),
    Field = fun(K) ->
                [L] = [L || L <- string:split(Status, "\n", all), lists:prefix(K, L)],
                list_to_integer(hd(string:lexemes(string:prefix(L, K), " \tkB")))
            end,
    #{fds => length(Fds), threads => Field("Threads:"), erts_bytes => erlang:memory(total),
      rss_kb => Field("VmRSS:")}.

%% Upgrade and unload with a dead worker: the upgrade restarts it first, the
%% unload of a dead instance just lets the module go.
dead_upgrade() ->
    run(fun() ->
        {1, _, _, _, _, _, _} = api_upgrade:info(),
        os:cmd("kill -9 " ++ worker_pid("nif:api_upgrade")),
        timer:sleep(100),
        {module, api_upgrade} = code:load_file(api_upgrade),  % upgrade callback: restarts
        R = api_upgrade:new(9),
        {_, 9} = api_upgrade:get(R),
        true = code:soft_purge(api_upgrade) orelse code:purge(api_upgrade),
        os:cmd("kill -9 " ++ worker_pid("nif:api_upgrade")),
        timer:sleep(100),
        true = code:delete(api_upgrade),
        _ = code:purge(api_upgrade),                           % unload with a dead worker
        {module, api_upgrade} = code:load_file(api_upgrade),  % and loading it afresh works
        {_, 5} = api_upgrade:get(api_upgrade:new(5)),
        io:format("dead_upgrade: upgrade, purge and reload with a dead worker~n")
    end).

%% NIFSHIM_WORKER_CPU=1 (set by the driver): a spinning NIF is stopped by the
%% CPU limit (SIGXCPU) and only its worker dies; the worker has NoNewPrivs.
cpu_limit() ->
    run(fun() ->
        alive = crash_nif:crash(none),
        Status = os:cmd("cat /proc/" ++ worker_pid("nif:crash_nif") ++ "/status"),
        string:find(Status, "NoNewPrivs:\t1") =/= nomatch orelse fail("no NoNewPrivs", []),
        {nifshim, worker_crashed, #{signal := Sig}} = try crash_nif:crash(spin) catch error:E -> E end,
        Sig =:= 'SIGXCPU' orelse Sig =:= 'SIGKILL' orelse fail("stopped by ~p", [Sig]),
        alive = crash_nif:crash(none),
        io:format("cpu_limit: the spinning NIF was stopped by ~p; NoNewPrivs is set~n", [Sig])
    end).

%% A NIF that finds enif_* and erl_errno_id in the process's global scope
%% (dlopen(NULL) + dlsym, as Rustler NIFs do) finds the worker's.
global_scope() ->
    run(fun() ->
        {found_by_dlsym, enoent} = crash_nif:crash(dlsym),
        io:format("global_scope: enif_make_atom and erl_errno_id found with dlopen(NULL) + dlsym~n")
    end).

%% The nifshim module: workers, a restart on demand, the policy.
nifshim_module() ->
    run(fun() ->
        true = nifshim:active(),
        alive = crash_nif:crash(none),
        [#{state := running, pid := Pid, calls := Calls, restarts := 0, crashes := 0,
           uptime_ms := Up, library := Lib}] = [W || #{name := "crash_nif"} = W <- nifshim:workers()],
        true = Calls >= 1 andalso is_integer(Up) andalso lists:suffix("crash_nif.so", Lib),
        integer_to_list(Pid) =:= worker_pid("nif:crash_nif") orelse fail("pid ~p is not the worker", [Pid]),
        ok = nifshim:restart(crash_nif),
        {error, not_found} = nifshim:restart(no_such_library),
        timer:sleep(50),
        alive = crash_nif:crash(none),
        [#{state := running, pid := Pid2, restarts := 1, crashes := 1}] =
            [W || #{name := "crash_nif"} = W <- nifshim:workers()],
        Pid2 =/= Pid orelse fail("restart/1 did not replace the worker", []),
        #{isolate := "*", restarts := {5, 10}, window_size := Size} = nifshim:policy(),
        true = Size > 0,
        io:format("nifshim_module: workers/0, restart/1 (~p -> ~p), policy/0~n", [Pid, Pid2])
    end).

%% Workers with no calls use no CPU: after calls from every scheduler, normal
%% and dirty, the serving threads stop spinning and sleep; their CPU ticks
%% (utime + stime of the whole worker, /proc/PID/stat) stay put for 2 s.
idle_workers() ->
    run(fun() ->
        Bin = binary:copy(<<"idle">>, 1 bsl 18),
        Parent = self(),
        Callers = [spawn_opt(fun() ->
                                 [begin
                                      7 = bench_nif:noop(7),
                                      alive = crash_nif:crash(none),
                                      alive = crash_nif:crash_dirty(none)
                                  end || _ <- lists:seq(1, 2000)],
                                 _ = bench_nif:bin_sum(Bin),  % dirty
                                 _ = crypto:hash(sha256, Bin),
                                 Parent ! {done, self()}
                             end, [link, {scheduler, S}])
                   || S <- lists:seq(1, erlang:system_info(schedulers_online))],
        [receive {done, P} -> ok after 60000 -> fail("caller ~p hung", [P]) end || P <- Callers],
        Ws = [{Name, integer_to_list(Pid)}
              || #{name := Name, pid := Pid, state := running} <- nifshim:workers()],
        lists:sort([N || {N, _} <- Ws]) =:= ["bench_nif", "crash_nif", "crypto"]
            orelse fail("unexpected workers: ~p", [Ws]),
        timer:sleep(500),  % far past any spin budget
        Before = [cpu_ticks(P) || {_, P} <- Ws],
        timer:sleep(2000),
        After = [cpu_ticks(P) || {_, P} <- Ws],
        Grew = [{N, B, A} || {{N, _}, B, A} <- lists:zip3(Ws, Before, After), A =/= B],
        Grew =:= [] orelse fail("idle workers used CPU (name, ticks before, after): ~p", [Grew]),
        io:format("idle_workers: ~p workers (~s) used 0 CPU ticks in 2 s without calls (ticks ~w)~n",
                  [length(Ws), lists:join(", ", [N || {N, _} <- Ws]), After])
    end).

%% A worker thread whose caller shares its CPU steps onto another one
%% (shim/channel.cc): that must leave every thread's CPU mask as it was, and a
%% worker confined to one CPU (nowhere to step to) must serve as before.
affinity_kept() ->
    run(fun() ->
        7 = bench_nif:noop(7),
        [#{pid := Pid}] = [W || #{name := "bench_nif"} = W <- nifshim:workers()],
        W = integer_to_list(Pid),
        Mask = thread_masks(W),
        [_] = lists:usort(Mask),
        ok = all_schedulers_noop(100000),
        Mask2 = thread_masks(W),
        lists:usort(Mask2) =:= lists:usort(Mask)
            orelse fail("worker CPU masks changed: ~p -> ~p", [Mask, Mask2]),
        Cpu0 = os:cmd("taskset -a -p -c 0 " ++ W ++ " >/dev/null 2>&1; echo $?"),
        "0\n" =:= Cpu0 orelse fail("taskset failed: ~s", [Cpu0]),
        ok = all_schedulers_noop(5000),
        ["0"] =:= lists:usort(thread_masks(W))
            orelse fail("confined worker's masks changed: ~p", [thread_masks(W)]),
        [Orig | _] = Mask,
        _ = os:cmd("taskset -a -p -c " ++ Orig ++ " " ++ W),
        io:format("affinity_kept: ~p worker threads kept CPU mask ~s through calls from every "
                  "scheduler; confined to CPU 0 they served as before~n", [length(Mask2), Orig])
    end).

all_schedulers_noop(N) ->
    Parent = self(),
    Ps = [spawn_opt(fun() ->
                        [I = bench_nif:noop(I) || I <- lists:seq(1, N)],
                        Parent ! {done, self()}
                    end, [link, {scheduler, S}])
          || S <- lists:seq(1, erlang:system_info(schedulers_online))],
    [receive {done, P} -> ok after 120000 -> fail("caller ~p hung", [P]) end || P <- Ps],
    ok.

%% Cpus_allowed_list of every thread of a process.
thread_masks(Pid) ->
    Tids = string:lexemes(os:cmd("ls /proc/" ++ Pid ++ "/task"), "\n"),
    [mask_of(test_util:read(Pid, "task/" ++ T ++ "/status")) || T <- Tids].

mask_of(Status) ->
    [L] = [string:trim(V) || "Cpus_allowed_list:" ++ V <- string:lexemes(Status, "\n")],
    L.

%% utime + stime of all the process's threads, in clock ticks.
cpu_ticks(Pid) ->
    [_, AfterComm] = string:split(test_util:read(Pid, "stat"), ") ", trailing),
    F = string:split(AfterComm, " ", all),
    list_to_integer(lists:nth(12, F)) + list_to_integer(lists:nth(13, F)).

%% Without the shim the module says so.
nifshim_without_shim() ->
    run(fun() ->
        false = nifshim:active(),
        {nifshim, not_active, #{reason := Text}} = try nifshim:workers() catch error:E -> E end,
        io:format("nifshim_without_shim: ~s~n", [Text])
    end).

worker_pid(Prefix) ->
    [{Pid, _}] = [W || {_, C} = W <- children(os:getpid()), lists:prefix(lists:sublist(Prefix, 15), C)],
    Pid.

wait_until(F) -> wait_until(F, 200).
wait_until(_F, 0) -> timeout;
wait_until(F, N) ->
    case F() of
        true -> ok;
        false -> erlang:garbage_collect(), timer:sleep(10), wait_until(F, N - 1)
    end.

%% A NIF that dies (How: segv, abort, fpe, ill, bus, stack, exit, _exit, on a
%% normal or a dirty scheduler): the caller gets worker_crashed with how it
%% died; the VM lives on; the next call is served by a restarted worker.
crash(How) ->
    run(fun() ->
        alive = crash_nif:crash(none),
        {F, Kind} = case How of
                        {dirty, K} -> {crash_dirty, K};
                        K -> {crash, K}
                    end,
        Got = try crash_nif:F(Kind) of V -> {returned, V} catch error:E -> E end,
        {nifshim, worker_crashed, Info} = Got,
        #{library := Lib, function := F, pid := Pid, reason := Reason,
          signal := Sig, exit_status := Exit, backtrace := Bt} = Info,
        true = is_integer(Pid) andalso is_list(Reason) andalso lists:suffix("crash_nif.so", Lib),
        Want = maps:get(Kind, #{segv => 'SIGSEGV', abort => 'SIGABRT', fpe => 'SIGFPE',
                                ill => 'SIGILL', bus => 'SIGBUS', stack => 'SIGSEGV',
                                exit => 3, '_exit' => 4}),
        case Want of
            S when is_atom(S) ->
                S =:= Sig orelse fail("signal ~p, wanted ~p (~s)", [Sig, S, Reason]),
                Bt =/= [] orelse fail("no backtrace", []),
                lists:any(fun(L) -> string:find(L, "crash_nif.so") =/= nomatch end, Bt)
                    orelse Kind =:= stack orelse fail("the backtrace misses the NIF: ~p", [Bt]);
            N ->
                {none, N} =:= {Sig, Exit} orelse fail("exit ~p/~p, wanted ~p (~s)", [Sig, Exit, N, Reason])
        end,
        alive = crash_nif:crash(none),  % a fresh worker serves the next call
        7 = length(lists:seq(1, 7)),
        io:format("crash ~p: ~s; the VM lives~n", [How, Reason])
    end).

%% Compares the term files of a native and an isolated run, case by case.
compare(NativeFile, IsolatedFile) -> compare(NativeFile, IsolatedFile, "").

%% Strip: a directory name the isolated run's library paths have in addition
%% (the rebuilt corpus lives in nifs/rebuilt/): removed from its strings.
compare(NativeFile, IsolatedFile, Strip) ->
    run(fun() ->
        {ok, A} = file:read_file(NativeFile),
        {ok, B} = file:read_file(IsolatedFile),
        Native = binary_to_term(A),
        Isolated = strip(binary_to_term(B), Strip),
        Diffs = [{K, V, proplists:get_value(K, Isolated, missing)}
                 || {K, V} <- Native, proplists:get_value(K, Isolated, missing) =/= V],
        [io:format("DIFFERS ~p:~n  native   ~P~n  isolated ~P~n", [K, N, 40, I, 40]) || {K, N, I} <- Diffs],
        length(Native) =:= length(Isolated) orelse fail("case counts differ", []),
        Diffs =:= [] orelse fail("~p of ~p cases differ", [length(Diffs), length(Native)]),
        io:format("compare: all ~p cases identical native and isolated~n", [length(Native)])
    end).

strip(T, "") -> T;
strip(T, Strip) when is_list(T) ->
    case io_lib:printable_unicode_list(T) of
        true -> lists:flatten(string:replace(T, Strip, "", all));
        false -> strip_cells(T, Strip)
    end;
strip(T, Strip) when is_tuple(T) -> list_to_tuple(strip(tuple_to_list(T), Strip));
strip(T, _) -> T.

strip_cells([H | T], Strip) -> [strip(H, Strip) | strip_cells(T, Strip)];
strip_cells(Tail, Strip) -> strip(Tail, Strip).

run(F) -> test_util:run(F).

fail(Fmt, Args) -> test_util:fail(Fmt, Args).

maps_of(Pid) -> test_util:read(Pid, "maps").

children(Pid) -> test_util:children(Pid).

%% Crypto state kept across calls while the crypto worker is killed from
%% outside (SIGKILL by pid) every 0.3-0.5 s, Kills times: the VM lives;
%% every call returns what the healthy worker computed before the first kill,
%% or raises {nifshim, worker_crashed | worker_unavailable, _}, or (a state
%% made by a worker that has died since) badarg; none hangs; the next
%% worker serves.
crypto_storm(Kills) ->
    run(fun() ->
        <<16#ba7816bf:32, _/binary>> = crypto:hash(sha256, <<"abc">>),  % a known vector
        Key = <<0:128>>, IV = <<1:128>>, Aad = <<"aad">>,
        Parts = [binary:copy(<<I>>, 1000 + 37 * I) || I <- lists:seq(1, 4)],
        Want = #{hash => crypto:hash(sha256, Parts),
                 ctr => crypto:crypto_one_time(aes_128_ctr, Key, IV, Parts, true),
                 aead => crypto:crypto_one_time_aead(aes_128_gcm, Key, binary:part(IV, 0, 12),
                                                     Parts, Aad, true),
                 exor => crypto:exor(hd(Parts), binary:copy(<<16#5a>>, byte_size(hd(Parts))))},
        Kill = counters:new(2, []),
        Parent = self(),
        Killer = spawn_link(fun() -> Parent ! {killed, kill_loop(Kills, Kill, none)} end),
        Pids = [spawn_link(fun() -> Parent ! {done, self(), storm_loop(Kill, Key, IV, Aad, Parts, Want, #{})} end)
                || _ <- lists:seq(1, 8)],
        Killed = receive {killed, N} -> N after 100000 -> fail("the killer hung", []) end,
        _ = Killer,
        Counts = lists:foldl(fun(P, Acc) ->
                                 receive {done, P, C} -> maps:merge_with(fun(_, A, B) -> A + B end, Acc, C)
                                 after 30000 -> fail("caller ~p hung", [P])
                                 end
                             end, #{}, Pids),
        maps:get(ok, Counts, 0) > 0 orelse fail("no call succeeded: ~p", [Counts]),
        Hash = maps:get(hash, Want),
        Hash = crypto:hash(sha256, Parts),
        io:format("crypto_storm: ~p kills, outcomes ~w~n", [Killed, Counts])
    end).

%% Kill counter 1: kills issued; 2: kills whose death the shim has noted.
kill_loop(0, Kill, _) -> counters:put(Kill, 1, -1), 0;
kill_loop(N, Kill, Last) ->
    timer:sleep(300 + rand:uniform(200)),
    case [P || #{name := "crypto", pid := P, state := running} <- nifshim:workers()] of
        [Pid] when Pid =/= Last ->
            counters:add(Kill, 1, 1),
            os:cmd("kill -9 " ++ integer_to_list(Pid)),
            wait_until(fun() -> [] =:= [P || #{pid := P, state := running} <- nifshim:workers(), P =:= Pid] end),
            counters:add(Kill, 2, 1),
            1 + kill_loop(N - 1, Kill, Pid);
        _ ->
            kill_loop(N, Kill, Last)
    end.

%% One round of each kind, again and again until the killer is done.
storm_loop(Kill, Key, IV, Aad, Parts, Want, Acc) ->
    case counters:get(Kill, 1) of
        -1 -> Acc;
        _ ->
            Acc1 = lists:foldl(fun(Kind, A) -> storm_round(Kind, Kill, Key, IV, Aad, Parts, Want, A) end,
                               Acc, [hash, ctr, aead, exor]),
            storm_loop(Kill, Key, IV, Aad, Parts, Want, Acc1)
    end.

storm_round(Kind, Kill, Key, IV, Aad, Parts, Want, Acc) ->
    Landed = counters:get(Kill, 2),
    Got = try storm_run(Kind, Key, IV, Aad, Parts) of
              V -> {value, V}
          catch
              error:{nifshim, E, _} when E =:= worker_crashed; E =:= worker_unavailable -> E;
              error:badarg -> badarg;
              error:{badarg, _, _} -> badarg
          end,
    case Got of
        {value, V1} ->
            V1 =:= maps:get(Kind, Want) orelse fail("~p returned a wrong value", [Kind]),
            maps:update_with(ok, fun(C) -> C + 1 end, 1, Acc);
        badarg ->
            %% Only a state whose worker died since it was made may be
            %% refused: a kill in flight when the round began, or one since.
            Issued = counters:get(Kill, 1),
            Issued > Landed orelse Issued =:= -1
                orelse fail("~p raised badarg with no worker death", [Kind]),
            maps:update_with(badarg, fun(C) -> C + 1 end, 1, Acc);
        E1 ->
            maps:update_with(E1, fun(C) -> C + 1 end, 1, Acc)
    end.

storm_run(hash, _Key, _IV, _Aad, Parts) ->
    crypto:hash_final(lists:foldl(fun(P, S) -> crypto:hash_update(S, P) end, crypto:hash_init(sha256), Parts));
storm_run(ctr, Key, IV, _Aad, Parts) ->
    S = crypto:crypto_init(aes_128_ctr, Key, IV, true),
    iolist_to_binary([crypto:crypto_update(S, P) || P <- Parts]);
storm_run(aead, Key, IV, Aad, Parts) ->
    crypto:crypto_one_time_aead(aes_128_gcm, Key, binary:part(IV, 0, 12), Parts, Aad, true);
storm_run(exor, _Key, _IV, _Aad, [P | _]) ->
    crypto:exor(P, binary:copy(<<16#5a>>, byte_size(P))).

%% NIFSHIM_TEST_DIE_AT=crypto:Point:How (set by the driver): crypto's first
%% worker stops (How = stop; the driver then kills it from outside) or
%% crashes at that point of the channel protocol (worker/test_hooks.h).
%% Point load: the first restart's worker dies while load runs. The VM
%% lives; every call returns the right digest or raises a documented error;
%% the next worker serves.
fault(Point, How) ->
    run(fun() ->
        Want = binary:decode_hex(<<"BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD">>),
        {module, crypto} = code:ensure_loaded(crypto),
        [Pid1] = [P || #{name := "crypto", pid := P} <- nifshim:workers()],
        Step = fun() ->
                   R = try crypto:hash_final(crypto:hash_update(crypto:hash_update(crypto:hash_init(sha256), <<"a">>), <<"bc">>)) of
                           Want -> ok;
                           Other -> fail("~p/~p: a wrong digest ~p", [Point, How, Other])
                       catch
                           error:{nifshim, E, _} when E =:= worker_crashed; E =:= worker_unavailable;
                                                      E =:= restart_failed -> E;
                           error:badarg -> badarg;
                           error:{badarg, _, _} -> badarg
                       end,
                   erlang:garbage_collect(),  % the states' destructors run
                   R
               end,
        Gone = fun() -> [Pid1] =/= [P || #{name := "crypto", pid := P} <- nifshim:workers()] end,
        Point =:= load andalso begin [ok = Step() || _ <- lists:seq(1, 5)], ok = nifshim:restart(crypto) end,
        Outcomes = fault_steps(Step, Gone, 2000, []),
        [fail("~p/~p: outcome ~p", [Point, How, O]) || O <- Outcomes, O =/= ok, O =/= worker_crashed,
                                                     O =/= worker_unavailable, O =/= badarg,
                                                     O =/= restart_failed orelse Point =/= load],
        [ok = Step() || _ <- lists:seq(1, 20)],  % the next worker serves
        [Pid2] = [P || #{name := "crypto", pid := P} <- nifshim:workers()],
        Pid2 =/= Pid1 orelse fail("~p/~p: the worker did not die", [Point, How]),
        Counts = lists:foldl(fun(O, M) -> maps:update_with(O, fun(C) -> C + 1 end, 1, M) end, #{}, Outcomes),
        io:format("fault ~p/~p: the VM lives, outcomes ~w, then served by ~p~n", [Point, How, Counts, Pid2])
    end).

%% Steps until the first worker is gone and a step succeeded after that.
fault_steps(_Step, _Gone, 0, _Acc) -> fail("the fault point was never reached", []);
fault_steps(Step, Gone, N, Acc) ->
    R = Step(),
    case R =:= ok andalso Gone() of
        true -> lists:reverse([R | Acc]);
        false -> fault_steps(Step, Gone, N - 1, [R | Acc])
    end.
