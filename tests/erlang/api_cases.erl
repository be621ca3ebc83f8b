%% The enif API corpus: small deterministic cases over the api_* test NIFs
%% (tests/nifs/api_*_nif.c). run/1 writes term_to_binary([{Case, Result}]),
%% so a native run and an isolated run can be compared byte for byte.
%% Results never contain pids, refs, ports, times or unique integers: cases
%% return properties of them instead. Results are also independent of the
%% number of schedulers.
-module(api_cases).
-export([cases/0, run/1, run_case/1, dump/1, newer_unload_then_halt/1]).

-define(TIMEOUT, 5000).
%% How long a case's process may run: a guard against a hang, not a timing
%% check (a loaded machine makes 100k resources in copy mode slowly).
-define(HANG_GUARD, 120000).

cases() ->
    terms_cases() ++ binmap_cases() ++ resource_cases() ++ thread_cases() ++
        misc_cases() ++ select_cases() ++ upgrade_cases() ++ newer_cases().

run(OutFile) ->
    Results = [{Name, run_case(F)} || {Name, F} <- cases()],
    ok = file:write_file(OutFile, term_to_binary(Results)),
    io:format("cases=~p~n", [length(Results)]),
    halt(0).

%% Each case runs in a fresh process (its own mailbox and heap).
run_case(F) ->
    Parent = self(),
    {Pid, Mon} = spawn_monitor(fun() ->
        R = try F() catch Class:Reason -> {caught, Class, Reason} end,
        Parent ! {self(), result, R}
    end),
    receive
        {Pid, result, R} ->
            receive {'DOWN', Mon, process, Pid, _} -> ok end,
            R;
        {'DOWN', Mon, process, Pid, Why} -> {caught, exit, Why}
    after 60000 ->
        exit(Pid, kill),
        {caught, timeout, case_timeout}
    end.

%% Pretty-print a result file (for humans).
dump(File) ->
    {ok, B} = file:read_file(File),
    [io:format("~p:~n    ~p~n", [N, R]) || {N, R} <- binary_to_term(B)],
    ok.

%% ---------------------------------------------------------------- helpers

t(F) -> try F() catch Class:Reason -> {error, Class, Reason} end.

%% a pid that is certainly dead
dead_pid() ->
    {Pid, Mon} = spawn_monitor(fun() -> ok end),
    receive {'DOWN', Mon, process, Pid, _} -> Pid end.

waiter() -> spawn(fun() -> receive stop -> ok end end).

stop_and_wait(Pid) ->
    Mon = erlang:monitor(process, Pid),
    Pid ! stop,
    receive {'DOWN', Mon, process, Pid, _} -> ok end.

%% Runs F in a process of its own and waits for it to exit; returns F's value.
in_process(F) ->
    Parent = self(),
    {Pid, Mon} = spawn_monitor(fun() -> Parent ! {self(), F()} end),
    receive {Pid, R} -> receive {'DOWN', Mon, process, Pid, _} -> R end
    after ?HANG_GUARD -> timeout
    end.

%% Polls Fun() until it returns Want (garbage collecting meanwhile), at most ~5 s.
wait_for(Fun, Want) -> wait_for(Fun, Want, 500).
wait_for(Fun, Want, 0) -> {gave_up, Fun(), Want};
wait_for(Fun, Want, N) ->
    case Fun() of
        Want -> Want;
        _ ->
            erlang:garbage_collect(),
            receive after 10 -> ok end,
            wait_for(Fun, Want, N - 1)
    end.

recv(Timeout) -> receive M -> M after Timeout -> timeout end.

%% Garbage collects until Fun() gives the same answer twice in a row.
settle(Fun) -> settle(Fun, Fun(), 50).
settle(_Fun, Last, 0) -> Last;
settle(Fun, Last, N) ->
    erlang:garbage_collect(),
    receive after 20 -> ok end,
    case Fun() of
        Last -> Last;
        New -> settle(Fun, New, N - 1)
    end.

cat_port() -> open_port({spawn, "cat"}, [binary]).

%% collect N bytes from a port (cat may split or join writes)
port_data(Port, N) -> port_data(Port, N, <<>>).
port_data(_Port, N, Acc) when byte_size(Acc) >= N -> Acc;
port_data(Port, N, Acc) ->
    receive {Port, {data, D}} -> port_data(Port, N, <<Acc/binary, D/binary>>)
    after ?TIMEOUT -> {timeout, Acc}
    end.

nifs_dir() -> os:getenv("NIFSHIM_TEST_NIFS", ".").

%% ---------------------------------------------------------------- terms

terms_cases() ->
    [{terms_ints, fun() ->
        [api_terms:ints(V) || V <- [0, 1, -1, 2147483647, 2147483648, -2147483648,
            -2147483649, 4294967295, 4294967296, 9223372036854775807,
            9223372036854775808, -9223372036854775808, -9223372036854775809,
            18446744073709551615, 18446744073709551616, 1 bsl 100, -(1 bsl 100),
            1.5, -0.0, 1.0e300, foo, <<>>, "1"]]
     end},
     {terms_make_nums, fun() -> api_terms:make_nums() end},
     {terms_make_double_nonfinite, fun() ->
        [t(fun() -> api_terms:make_double(W) end) || W <- [0, 1, 2, x]]
     end},
     {terms_atoms_existing, fun() ->
        [api_terms:atoms(B, false) || B <- [<<"ok">>, <<"api_never_made_atom_q7">>,
                                            <<"a", 0, "b">>, <<>>]]
     end},
     {terms_atoms_make, fun() ->
        Name = <<"api_made_by_nif_atom_k3">>,
        Before = api_terms:atoms(Name, false),
        Made = api_terms:atoms(Name, true),
        After = api_terms:atoms(Name, false),
        Latin1 = api_terms:atoms(<<"caf", 233>>, true),
        Max = api_terms:atoms(binary:copy(<<"m">>, 255), true),
        {Before, Made, After, Latin1, element(3, Max) =:= list_to_atom(lists:duplicate(255, $m)),
         t(fun() -> api_terms:atoms(binary:copy(<<"n">>, 256), true) end),
         t(fun() -> api_terms:atoms(not_a_binary, true) end)}
     end},
     {terms_atom_info, fun() ->
        [t(fun() -> api_terms:atom_info(A) end)
         || A <- [ok, '', abc, abcd, 'a longer atom name', binary_to_atom(<<"caf", 233>>, latin1),
                  list_to_atom([402, $x]), 42, "abc"]]
     end},
     {terms_strings, fun() ->
        [api_terms:strings(S) || S <- ["hello", "", "abc", "abcd", [255, 1], [256], [$a | $b],
                                       foo, <<"bin">>, "x" ++ [0] ++ "y", lists:duplicate(300, $a)]]
     end},
     {terms_lists, fun() ->
        [api_terms:lists(L) || L <- [[], [1, 2, 3], [a | b], [1, 2 | 3], lists:seq(1, 100),
                                     foo, "abc", [[1], {2}, -5]]]
     end},
     {terms_tuples, fun() ->
        [t(fun() -> api_terms:tuples(T) end)
         || T <- [{}, {a}, {1, 2, 3}, list_to_tuple(lists:seq(1, 64)),
                  list_to_tuple(lists:seq(1, 65)), [a], foo]]
     end},
     {terms_classify, fun() ->
        Port = cat_port(),
        R = [api_terms:classify(X) || X <- [atom, <<1, 2>>, <<1:3>>, make_ref(),
                                            fun() -> ok end, fun lists:map/2, self(), Port, [],
                                            [1], "s", {}, {1}, #{}, #{a => 1}, 1, 1 bsl 70,
                                            -(1 bsl 70), 1.5]],
        port_close(Port),
        R
     end},
     {terms_compare, fun() ->
        Pairs = [{1, 1}, {1, 1.0}, {1, 2}, {2, 1}, {a, 1}, {[], {}}, {<<"a">>, <<"b">>},
                 {"abc", "abc"}, {#{a => 1}, #{a => 2}}, {{1, 2}, {1, 2, 3}},
                 {1 bsl 80, 1 bsl 81}, {self(), self()}, {make_ref(), atom},
                 {fun() -> ok end, 1}, {[1 | 2], [1, 2]}],
        [begin
             Nif = api_terms:compare(A, B),
             Erl = {if A < B -> -1; A > B -> 1; true -> 0 end, A =:= B},
             {Nif, Nif =:= Erl}
         end || {A, B} <- Pairs]
     end},
     {terms_copy, fun() ->
        Big = binary:copy(<<"xyz">>, 1000),
        [begin {Same, Out} = api_terms:copy(T), {Same, Out =:= T} end
         || T <- [{a, [1, 2], <<"bin">>, #{k => v}, 1.5, 1 bsl 80, "str"}, Big,
                  [Big, Big], lists:seq(1, 1000), maps:from_list([{I, I} || I <- lists:seq(1, 100)]),
                  self(), fun lists:sort/1]]
     end},
     {terms_refs, fun() ->
        Mine = make_ref(),
        {Refs, IsRef, Distinct} = api_terms:refs(5),
        Self = self(),
        [R1 | _] = Refs,
        Self ! {R1, ping},
        Got = receive {R1, ping} -> true after ?TIMEOUT -> false end,
        {length(Refs), IsRef, Distinct, lists:all(fun erlang:is_reference/1, Refs),
         length(lists:usort([Mine | Refs])), Got, api_terms:refs(0),
         t(fun() -> api_terms:refs(17) end)}
     end},
     {terms_env_leak, fun() ->
        %% 100 round trips of a 20000-element list through two freed envs
        L = lists:seq(1, 20000),
        erlang:garbage_collect(),
        Before = erlang:memory(total),
        Ok = lists:all(fun(_) -> api_terms:copy(L) =:= {true, L} end, lists:seq(1, 100)),
        erlang:garbage_collect(),
        {Ok, erlang:memory(total) - Before < 16 bsl 20}
     end},
     {terms_badarg, fun() -> t(fun() -> api_terms:badarg() end) end},
     {terms_raise, fun() ->
        [t(fun() -> api_terms:raise(R) end)
         || R <- [{my, reason, [1, 2]}, badarg, <<"binary reason">>, #{why => 42}]]
     end},
     {terms_pending, fun() ->
        [{t(fun() -> api_terms:pending(Mode, {custom, Mode}) end), recv(?TIMEOUT)}
         || Mode <- [0, 1, 2]]
     end}].

%% ---------------------------------------------------------------- binaries, maps, ioq

binmap_cases() ->
    [{binmap_bins_small, fun() -> api_binmap:bins(8) end},
     {binmap_bins_large, fun() ->
        {Made, New, Sub, Info} = api_binmap:bins(100000),
        {byte_size(Made), erlang:phash2(Made), binary:part(Made, 99990, 20), New, Sub, Info}
     end},
     %% Encoder-like chunks: alloc, shrink, make (worker/enif_direct_offheap.cc
     %% builds the ProcBins in place once three of the VM's agreed, and
     %% shrinks by up to 4 KB in place); up to 64 bytes they are heap binaries.
     %% A GC walks the off-heap list they were linked into.
     {binmap_chunks, fun() ->
        [begin
             L = api_binmap:chunks(N, Size, Shrink),
             erlang:garbage_collect(),
             {length(L), [byte_size(B) || B <- lists:sublist(L, 3)], erlang:phash2(L),
              lists:usort([binary:referenced_byte_size(B) || B <- L])}
         end || {N, Size, Shrink} <- [{5, 2048, 8}, {200, 2048, 100}, {50, 70, 10}, {50, 64, 0},
                                      {10, 65, 0}, {3, 100000, 60000}, {20, 10, 10}, {30, 9000, 4096}]]
     end},
     {binmap_bins_bad, fun() ->
        [t(fun() -> api_binmap:bins(X) end) || X <- [2, -1, foo]]
     end},
     {binmap_release, fun() ->
        Before = erlang:memory(binary),
        R = api_binmap:release_loop(300, 1 bsl 20),
        After = erlang:memory(binary),
        {R, After - Before < 64 bsl 20}
     end},
     {binmap_inspect, fun() ->
        Big = binary:copy(<<"0123456789">>, 100),
        <<_:3/binary, Sub:50/binary, _/binary>> = Big,
        [api_binmap:inspect(X) || X <- [<<>>, <<"abc">>, Big, Sub, <<1:3>>, <<1, 2:5>>, "list", 42]]
     end},
     {binmap_iolist, fun() ->
        [t(fun() -> api_binmap:iolist(X) end)
         || X <- [[<<"a">>, "bc", [[$d]], <<>>], <<"x">>, [], [[], []], [1000], [a],
                  [<<"a">> | <<"b">>], [<<"a">> | c], binary:copy(<<"q">>, 300), foo]]
     end},
     {binmap_t2b, fun() ->
        Terms = [a, 1, -1, 1 bsl 70, 1.5, "str", <<"bin">>, {1, [2], #{3 => 4}},
                 lists:seq(1, 300), binary:copy(<<1>>, 300), <<1:3>>],
        [begin B = api_binmap:t2b(T), {byte_size(B), B =:= term_to_binary(T)} end || T <- Terms]
     end},
     {binmap_b2t, fun() ->
        T = {a, [1, 2.5, <<"x">>], #{k => "v"}},
        B = term_to_binary(T),
        New = <<"api_b2t_unseen_atom_z9">>,
        NewAtom = <<131, 119, (byte_size(New)), New/binary>>,
        Unsafe = api_binmap:b2t(<<NewAtom/binary>>, false),
        [api_binmap:b2t(B, false), api_binmap:b2t(B, true),
         api_binmap:b2t(<<B/binary, 1, 2, 3>>, true),
         api_binmap:b2t(<<131, 119, 3, "zzq">>, true),
         api_binmap:b2t(<<"api_b2t_", 131, 1>>, false),
         api_binmap:b2t(<<131, 255>>, false), api_binmap:b2t(<<>>, false),
         api_binmap:b2t(<<131, 119, 5, "api_s">>, true),
         Unsafe, api_binmap:b2t(NewAtom, true),
         t(fun() -> api_binmap:b2t(notbin, false) end)]
     end},
     {binmap_maps, fun() ->
        Big = maps:from_list([{I, I * I} || I <- lists:seq(1, 40)]),
        [api_binmap:map_ops(#{a => 1, b => 2}, a, 10), api_binmap:map_ops(#{a => 1}, z, 3),
         api_binmap:map_ops(#{}, k, v), api_binmap:map_ops(not_a_map, a, 1),
         begin
             {true, 40, {ok, 100}, P, U, R, F} = api_binmap:map_ops(Big, 10, x),
             {P =:= Big#{10 => x}, U =:= Big#{10 := x}, R =:= maps:remove(10, Big), F}
         end]
     end},
     {binmap_map_arrays, fun() ->
        [t(fun() -> api_binmap:map_arrays(K, V) end)
         || {K, V} <- [{[a, b, c], [1, 2, 3]}, {[a, a], [1, 2]}, {[], []}, {[a, b], [1]},
                       {lists:seq(1, 40), lists:seq(41, 80)}, {foo, []}]]
     end},
     {binmap_map_iter, fun() ->
        Big = maps:from_list([{I, -I} || I <- lists:seq(1, 50)]),
        {F, B, P} = api_binmap:map_iter(Big),
        %% Since OTP 26 a flatmap orders atom keys by atom index, which
        %% differs between VMs (the shim makes atoms of its own): the walk is
        %% compared with the VM's own order (maps:to_list/1).
        Abc = #{a => 1, b => 2, c => 3},
        InOrder = fun({F3, B3, P3}) ->
                          L = maps:to_list(Abc),
                          {lists:sort(F3), F3 =:= lists:reverse(L), B3 =:= L,
                           [case X of {_, _} -> {second, X =:= lists:nth(2, L)}; _ -> X end || X <- P3]}
                  end,
        [api_binmap:map_iter(#{}), api_binmap:map_iter(#{a => 1}),
         InOrder(api_binmap:map_iter(Abc)),
         {lists:sort(F) =:= lists:sort(maps:to_list(Big)), lists:reverse(F) =:= B, length(F), P},
         t(fun() -> api_binmap:map_iter(foo) end)]
     end},
     {binmap_ioq, fun() ->
        Big = binary:copy(<<"z">>, 100),
        Many = [<<I>> || I <- lists:seq($a, $a + 19)],
        [t(fun() -> api_binmap:ioq(L, M) end)
         || {L, M} <- [{[<<"hello">>, <<" ">>, <<"world">>], 100}, {[<<"ab">>, Big, <<"cd">>], 1},
                       {[<<"ab">>, Big, <<"cd">>], 2}, {Many, 100}, {[], 10},
                       {[<<"a">> | <<"b">>], 10}, {["ab"], 10}, {notalist, 10}]]
     end}].

%% ---------------------------------------------------------------- resources

resource_cases() ->
    [{res_info, fun() -> api_resources:info() end},
     {res_basic, fun() ->
        R = api_resources:new(3, 42),
        R2 = api_resources:new(3, 42),
        {is_reference(R), api_resources:value(R), api_resources:res_size(R), R =:= R, R =:= R2,
         t(fun() -> api_resources:value(not_res) end),
         t(fun() -> api_resources:value(api_resources:mon_new()) end),
         t(fun() -> api_resources:value(make_ref()) end),
         t(fun() -> api_resources:new(99, 1) end),
         t(fun() -> api_resources:res_size(self()) end)}
     end},
     {res_sizes, fun() ->
        [api_resources:res_size(R) || R <- [api_resources:mon_new(), api_resources:dyn_new(1),
                                            api_resources:nodown_new(), api_resources:new(3, 0)]]
     end},
     {res_dtor_on_exit, fun() ->
        D0 = api_resources:dtors(4),
        Sum = in_process(fun() ->
            L = api_resources:new_many(4, 10),
            lists:sum([api_resources:value(R) || R <- L])
        end),
        {D0, Sum, wait_for(fun() -> api_resources:dtors(4) end, 10)}
     end},
     {res_gc_100k, fun() ->
        D0 = api_resources:dtors(5),
        Sum = in_process(fun() -> make_and_sum(5, 100000) end),
        AfterExit = wait_for(fun() -> api_resources:dtors(5) end, 100000),
        Sum2 = make_and_sum(5, 1000),
        erlang:garbage_collect(),
        {D0, Sum, AfterExit, Sum2, wait_for(fun() -> api_resources:dtors(5) end, 101000)}
     end},
     {res_binary, fun() ->
        Parent = self(),
        Child = spawn(fun() ->
            B = api_resources:res_bin(6, <<"hello resource">>),
            Parent ! {res_bin, B =:= <<"ello resource">>, is_binary(B), byte_size(B),
                      binary_to_list(binary:part(B, 0, 4)), api_resources:dtors(6)},
            receive stop -> ok end
        end),
        M = recv(?TIMEOUT),
        Held = api_resources:dtors(6),
        stop_and_wait(Child),
        {M, Held, wait_for(fun() -> api_resources:dtors(6) end, 1),
         t(fun() -> api_resources:res_bin(6, notbin) end)}
     end},
     {res_binary_outside, fun() ->
        %% Data outside any heap (the library's constants): the binary reads
        %% as the bytes, and goes with its resource.
        Parent = self(),
        Child = spawn(fun() ->
            Bs = [api_resources:res_bin_static(41) || _ <- lists:seq(1, 50)],
            erlang:garbage_collect(),
            Parent ! {static_bins, lists:usort(Bs), byte_size(hd(Bs)), api_resources:dtors(41)},
            receive stop -> ok end
        end),
        M = recv(?TIMEOUT),
        Held = api_resources:dtors(41),
        stop_and_wait(Child),
        {M, Held, wait_for(fun() -> api_resources:dtors(41) end, Held + 50)}
     end},
     {res_keep_release, fun() ->
        ok = in_process(fun() -> api_resources:keep(api_resources:new(7, 77)) end),
        erlang:garbage_collect(),
        receive after 50 -> ok end,
        Kept = api_resources:dtors(7),
        V = api_resources:unkeep(),
        {Kept, V, wait_for(fun() -> api_resources:dtors(7) end, 1),
         t(fun() -> api_resources:unkeep() end)}
     end},
     {res_dynamic_call, fun() ->
        D = api_resources:dyn_new(100),
        [api_resources:dyn_call(api_resources, api_dyn, D, 5),
         api_resources:dyn_call(api_resources, api_dyn, D, 10),
         api_misc:dyn_call(api_resources, api_dyn, D, 1),
         api_resources:dyn_call(api_resources, api_nope, D, 1),
         api_resources:dyn_call(api_misc, api_dyn, D, 1),
         api_resources:dyn_call(api_resources, api_counted, api_resources:new(3, 1), 1),
         api_resources:dyn_call(api_resources, api_dyn, api_resources:new(3, 1), 1),
         api_resources:dyn_call(api_resources, api_dyn, not_a_resource, 1),
         api_resources:dyn_call(api_resources, api_dyn, D, 0)]
     end},
     {res_monitor_down, fun() ->
        R = api_resources:mon_new(),
        Pid = waiter(),
        {Ret, MonTerm} = api_resources:mon_start(R, Pid),
        Pid ! stop,
        Down = receive
                   {api_down, M2, P2, Same, Downs} -> {M2 =:= MonTerm, P2 =:= Pid, Same, Downs}
               after ?TIMEOUT -> timeout
               end,
        {Ret, is_reference(MonTerm), Down, api_resources:mon_stop(R) =/= 0,
         api_resources:mon_cmp(R, R), recv(100)}
     end},
     {res_demonitor, fun() ->
        R = api_resources:mon_new(),
        Pid = waiter(),
        {Ret, _} = api_resources:mon_start(R, Pid),
        S1 = api_resources:mon_stop(R),
        S2 = api_resources:mon_stop(R),
        stop_and_wait(Pid),
        {Ret, S1, S2 =/= 0, recv(200), api_resources:mon_cmp(R, R)}
     end},
     {res_monitor_errors, fun() ->
        R = api_resources:mon_new(),
        {api_resources:mon_start(R, dead_pid()), api_resources:nodown_monitor(self()),
         t(fun() -> api_resources:mon_start(R, not_a_pid) end),
         t(fun() -> api_resources:mon_start(api_resources:new(3, 0), self()) end)}
     end},
     {res_monitor_compare, fun() ->
        R1 = api_resources:mon_new(),
        R2 = api_resources:mon_new(),
        P1 = waiter(),
        P2 = waiter(),
        {_, M1} = api_resources:mon_start(R1, P1),
        {_, M2} = api_resources:mon_start(R2, P2),
        {Self, AB, BA, Downs} = api_resources:mon_cmp(R1, R2),
        stop_and_wait(P1),
        stop_and_wait(P2),
        Msgs = lists:sort([element(1, recv(?TIMEOUT)), element(1, recv(?TIMEOUT))]),
        {Self, AB =:= -BA, AB =/= 0, Downs, M1 =/= M2, Msgs}
     end},
     {res_monitor_many, fun() ->
        Pids = [waiter() || _ <- lists:seq(1, 50)],
        Rs = [{api_resources:mon_new(), P} || P <- Pids],
        Rets = lists:usort([element(1, api_resources:mon_start(R, P)) || {R, P} <- Rs]),
        [P ! stop || P <- Pids],
        Got = [receive {api_down, _, P2, 0, 1} -> P2 after ?TIMEOUT -> timeout end || _ <- Pids],
        {Rets, lists:sort(Got) =:= lists:sort(Pids), recv(50)}
     end},
     %% After the cases above the worker answers enif_get_resource and counts
     %% references in place (worker/enif_direct_resource.cc): the same
     %% answers for every kind of term, and the last release still runs the
     %% destructor.
     {res_in_place, fun() ->
        R = api_resources:new(9, 42),
        Vs = lists:usort([api_resources:value(R) || _ <- lists:seq(1, 20)]),
        B = api_resources:res_bin(9, <<"in place">>),
        Others = [t(fun() -> api_resources:value(X) end)
                  || X <- [not_res, 7, self(), make_ref(), atomics:new(1, []), <<"heap">>,
                           binary:copy(<<"refc">>, 100), binary:part(B, 1, 2),
                           api_resources:mon_new(), api_resources:dyn_new(1)]],
        ok = in_process(fun() -> api_resources:keep(api_resources:new(10, 7)) end),
        erlang:garbage_collect(),
        receive after 50 -> ok end,
        Kept = api_resources:dtors(10),
        Unkept = api_resources:unkeep(),
        Made = in_process(fun() -> make_and_sum(11, 500) end),
        {Vs, api_resources:value(B), byte_size(B), api_resources:res_size(R), Others, Kept, Unkept,
         wait_for(fun() -> api_resources:dtors(10) end, 1), Made,
         wait_for(fun() -> api_resources:dtors(11) end, 500)}
     end}].

make_and_sum(Batch, N) ->
    L = api_resources:new_many(Batch, N),
    {length(L), lists:sum([api_resources:value(R) || R <- L])}.

%% ---------------------------------------------------------------- threads

thread_cases() ->
    [{thr_type, fun() ->
        {api_threads:thread_type(), api_threads:thread_type_dirty_cpu(),
         api_threads:thread_type_dirty_io()}
     end},
     {thr_basic, fun() -> [api_threads:basic(N) || N <- [0, 1000, 100000]] end},
     {thr_mutex, fun() -> api_threads:mutex(4, 20000) end},
     {thr_cond, fun() -> api_threads:condvar(3, 500) end},
     {thr_rwlock, fun() -> api_threads:rwlock(4, 2000) end},
     {thr_tsd, fun() -> api_threads:tsd(4) end},
     {thr_bad_args, fun() ->
        [t(F) || F <- [fun() -> api_threads:mutex(0, 1) end, fun() -> api_threads:condvar(99, 1) end,
                       fun() -> api_threads:basic(x) end,
                       fun() -> api_threads:send_from_thread(x, self(), 1, x) end]]
     end},
     {thr_send, fun() ->
        Payload = {payload, <<"bin">>, binary:copy(<<"r">>, 200), [1, 2, 3], #{a => 1.5}},
        R = api_threads:send_from_thread(self(), dead_pid(), 200, Payload),
        Got = [receive {api_thread_msg, I, P} -> P =:= Payload after ?TIMEOUT -> timeout end
               || I <- lists:seq(0, 199)],
        {R, length(Got), lists:usort(Got), recv(50)}
     end},
     {thr_send_other, fun() ->
        Parent = self(),
        Counter = spawn(fun() -> Parent ! {counted, count_msgs(0)} end),
        R = api_threads:send_from_thread(Counter, dead_pid(), 500, x),
        Counter ! done,
        {R, recv(?TIMEOUT)}
     end}].

count_msgs(N) ->
    receive
        {api_thread_msg, N, x} -> count_msgs(N + 1);
        done -> N;
        Other -> {unexpected, Other}
    end.

%% ---------------------------------------------------------------- misc

misc_cases() ->
    [{misc_mem, fun() -> [t(fun() -> api_misc:mem(N) end) || N <- [1, 1000, 100000, 0]] end},
     {misc_mem_loop, fun() ->
        Before = erlang:memory(total),
        R = api_misc:mem_loop(300, 1 bsl 20),
        {R, erlang:memory(total) - Before < 64 bsl 20}
     end},
     {misc_time, fun() ->
        E1 = erlang:monotonic_time(nanosecond),
        {Inc, C1, C2, C3, BadC, BadM, BadO, Now, Cpu, Mono, Off} = api_misc:time_info(),
        E2 = erlang:monotonic_time(nanosecond),
        {NMe, NS, NMi} = Now,
        NowUs = (NMe * 1000000 + NS) * 1000000 + NMi,
        SysUs = os:system_time(microsecond),
        Ints3 = fun({A, B, C}) -> is_integer(A) andalso is_integer(B) andalso is_integer(C);
                   (_) -> false end,
        {Inc, C1, C2, C3, BadC, BadM, BadO, Ints3(Now), abs(NowUs - SysUs) < 10000000,
         Ints3(Cpu), E1 =< Mono andalso Mono =< E2, Off =:= erlang:time_offset(nanosecond)}
     end},
     {misc_hash, fun() ->
        Terms = [a, 1, "str", <<"bin">>, {1, [2, 3]}, #{k => v}, 1 bsl 70, 1.5],
        [begin
             {I0, P0} = api_misc:hash(T, 0),
             {I1, P1} = api_misc:hash(T, 12345),
             {IC, _} = api_misc:hash(binary_to_term(term_to_binary(T)), 0),
             {P0, P0 =:= erlang:phash2(T), P0 =:= P1, I0 =:= IC, I0 =/= I1}
         end || T <- Terms] ++ [t(fun() -> api_misc:hash(a, -1) end)]
     end},
     {misc_sysinfo, fun() ->
        {[DMaj, DMin, Erts, Otp, Thr, Smp, Async, Sched, NMaj, NMin, Dirty], Part} = api_misc:sysinfo(),
        {DMaj, DMin, Erts =:= erlang:system_info(version), Otp =:= erlang:system_info(otp_release),
         Thr, Smp, Async =:= erlang:system_info(thread_pool_size),
         Sched =:= erlang:system_info(schedulers), NMaj, NMin, Dirty, Part}
     end},
     {misc_getenv, fun() ->
        true = os:putenv("API_MISC_VAR", "some value"),
        A = api_misc:getenv("API_MISC_VAR", 256),
        B = api_misc:getenv("API_MISC_VAR", 4),
        C = api_misc:getenv("API_MISC_VAR", 11),
        true = os:unsetenv("API_MISC_VAR"),
        D = api_misc:getenv("API_MISC_VAR", 256),
        Expect = os:getenv("PATH"),
        Path = case api_misc:getenv("PATH", 256) of
                   {0, P} -> P =:= Expect;
                   {1, Size} -> Size =:= length(Expect) + 1;
                   Other -> Other
               end,
        {A, B, C, D, Path,
         t(fun() -> api_misc:getenv(notastring, 10) end)}
     end},
     {misc_dlopen, fun() ->
        Tmp = "/tmp/nifshim_api_" ++ os:getpid(),
        ok = filelib:ensure_dir(Tmp ++ "/"),
        Link = filename:join(Tmp, "apim.so"),
        _ = file:delete(Link),
        Libm = hd([P || P <- ["/lib/x86_64-linux-gnu/libm.so.6", "/usr/lib/x86_64-linux-gnu/libm.so.6",
                              "/lib64/libm.so.6", "/usr/lib64/libm.so.6", "/lib/libm.so.6"],
                        filelib:is_regular(P)] ++ [none]),
        ok = file:make_symlink(Libm, Link),
        Base = filename:join(Tmp, "apim"),
        R = [api_misc:dl(Base, "cos", 0.0), api_misc:dl(Base, "sqrt", 2.0),
             api_misc:dl(Base, "api_no_such_symbol", 1.0),
             api_misc:dl(Tmp ++ "/api_no_such_lib", "cos", 0.0),
             api_misc:dl(filename:join(nifs_dir(), "bad_noinit"), "api_helper_twice", 21.0),
             t(fun() -> api_misc:dl(nolist, "cos", 0.0) end)],
        ok = file:delete(Link),
        ok = file:del_dir(Tmp),
        R
     end},
     {misc_fmt, fun() ->
        [api_misc:fmt({a, [1, 2], <<"b">>, "str", 1.5, #{k => v}}, -7, "hello"),
         api_misc:fmt([], 1 bsl 40, "x"), api_misc:fmt(<<1, 2, 3>>, 0, "%s %T"),
         t(fun() -> api_misc:fmt(a, foo, "x") end)]
     end},
     {misc_schedule_nif, fun() ->
        {api_misc:sched(100, 0), api_misc:sched(0, 7), t(fun() -> api_misc:sched(-1, 0) end),
         t(fun() -> api_misc:sched(3, foo) end), api_misc:chain([])}
     end},
     {misc_timeslice, fun() ->
        erlang:yield(),
        C = api_misc:consume_count(),
        Built = [begin
                     erlang:yield(),
                     {T, C2} = api_misc:consume_built(),
                     {T, C2 >= 50 andalso C2 =< 101}
                 end || _ <- [1, 2, 3]],
        {api_misc:consume(100), api_misc:consume(101), C >= 50 andalso C =< 101, Built,
         api_misc:work(3000000, 0), api_misc:work(0, 5), t(fun() -> api_misc:consume(x) end)}
     end},
     {misc_dirty, fun() ->
        {api_misc:dirty_cpu(100), api_misc:dirty_io(1000), t(fun() -> api_misc:dirty_cpu(x) end),
         t(fun() -> api_misc:dirty_io(y) end)}
     end},
     {misc_args14, fun() ->
        Args = [1, -7, a, <<"bin">>, {t, 1}, [x, y], 1.5, 1 bsl 70, #{k => v}, "s", list_to_pid("<0.0.0>"), 0.25, <<1:3>>, 14],
        R = apply(api_misc, args14, Args),
        {element(1, R) =:= Args, R}
     end},
     {misc_unique_integer, fun() ->
        E1 = erlang:unique_integer([positive, monotonic]),
        {A, B, C} = api_misc:uniq(),
        E2 = erlang:unique_integer([positive, monotonic]),
        {E1 < A, A < B, B < E2, is_integer(C)}
     end},
     {misc_self, fun() ->
        Dead = dead_pid(),
        W = waiter(),
        [Me, Alive, Cur, SelfUndef, Undef, UndefTerm, _Calls] = api_misc:self_info(self()),
        [_, DeadAlive | _] = api_misc:self_info(Dead),
        [_, WAlive | _] = api_misc:self_info(W),
        stop_and_wait(W),
        {Me =:= self(), Alive, Cur, SelfUndef, Undef, UndefTerm, DeadAlive, WAlive,
         t(fun() -> api_misc:self_info(not_a_pid) end)}
     end},
     {misc_whereis, fun() ->
        W = waiter(),
        true = register(api_misc_reg_proc, W),
        Port = cat_port(),
        true = register(api_misc_reg_port, Port),
        {pid, P} = api_misc:whereis(api_misc_reg_proc, <<>>),
        Cmd = api_misc:whereis(api_misc_reg_port, <<"via whereis">>),
        Data = port_data(Port, 11),
        R = {P =:= W, Cmd, Data, api_misc:whereis(api_misc_not_registered, <<>>),
             api_misc:whereis("not an atom", <<>>)},
        port_close(Port),
        stop_and_wait(W),
        R
     end},
     {misc_port, fun() ->
        Port = cat_port(),
        A = api_misc:port(Port, <<"abc">>),
        DA = port_data(Port, 6),
        B = api_misc:port(Port, [<<"de">>, $f | <<"g">>]),
        DB = port_data(Port, 8),
        C = api_misc:port(Port, notiodata),
        port_close(Port),
        D = api_misc:port(Port, <<"x">>),
        {A, DA, B, DB, C, D, api_misc:port(self(), <<>>), recv(50)}
     end},
     {misc_send, fun() ->
        A = api_misc:send(self(), {hello, [1, 2]}),
        M1 = recv(?TIMEOUT),
        M2 = recv(?TIMEOUT),
        {A, M1, M2, api_misc:send(dead_pid(), x), recv(50), t(fun() -> api_misc:send(x, x) end)}
     end},
     {misc_concurrency, fun concurrency/0}].

%% Many processes on the normal schedulers plus dirty CPU and dirty IO NIFs at
%% the same time, each checking every result; the summary does not depend on
%% the number of schedulers.
concurrency() ->
    N = erlang:system_info(schedulers) * 8,
    Iter = 2000,
    D0 = api_resources:dtors(8),
    Parent = self(),
    Spawn = fun(Kind, F) ->
        spawn_link(fun() -> Parent ! {done, Kind, F()} end)
    end,
    [Spawn(normal, fun() -> normal_loop(I, Iter, 0, 0) end) || I <- lists:seq(1, N)],
    [Spawn(dirty_cpu, fun() -> dirty_loop(fun api_misc:dirty_cpu/1, dirty_cpu, Iter, 0) end)
     || _ <- lists:seq(1, 4)],
    [Spawn(dirty_io, fun() -> dirty_loop(fun api_misc:dirty_io/1, dirty_io, Iter, 0) end)
     || _ <- lists:seq(1, 4)],
    [Spawn(sched, fun() -> sched_loop(200, 0) end) || _ <- lists:seq(1, 4)],
    Results = [receive {done, K, R} -> {K, R} after 60000 -> timeout end
               || _ <- lists:seq(1, N + 12)],
    Normal = [R || {normal, R} <- Results],
    Expect = [{ok, Iter, normal_expected(I, Iter)} || I <- lists:seq(1, N)],
    {lists:sort(Normal) =:= lists:sort(Expect),
     lists:sort([R || {K, R} <- Results, K =/= normal]),
     wait_for(fun() -> api_resources:dtors(8) - D0 end, N * Iter) =:= N * Iter}.

normal_loop(_I, 0, Ok, Sum) -> {ok, Ok, Sum};
normal_loop(I, K, Ok, Sum) ->
    V = I * 100000 + K,
    Good = lists:nth(4, api_terms:lists([V, 1, 2])) =:= V + 3
        andalso api_binmap:t2b({V}) =:= term_to_binary({V})
        andalso api_resources:value(api_resources:new(8, V)) =:= V
        andalso api_terms:compare(V, V + 1) =:= {-1, false}
        andalso element(2, api_terms:copy({V, <<"b">>})) =:= {V, <<"b">>},
    normal_loop(I, K - 1, Ok + (case Good of true -> 1; false -> 0 end), Sum + V).

normal_expected(I, Iter) -> lists:sum([I * 100000 + K || K <- lists:seq(1, Iter)]).

dirty_loop(_F, Type, 0, Ok) -> {Type, Ok};
dirty_loop(F, Type, K, Ok) ->
    N = K rem 100,
    Good = F(N) =:= {Type, N * (N + 1) div 2, 0},
    dirty_loop(F, Type, K - 1, Ok + (case Good of true -> 1; false -> 0 end)).

sched_loop(0, Ok) -> {sched, Ok};
sched_loop(K, Ok) ->
    Good = api_misc:sched(K rem 20, 0) =:= (K rem 20) * (K rem 20 + 1) div 2
        andalso api_misc:chain([]) =:= [normal, dirty_cpu, dirty_io, normal],
    sched_loop(K - 1, Ok + (case Good of true -> 1; false -> 0 end)).

%% ---------------------------------------------------------------- select

select_cases() ->
    [{sel_pipe_read, fun() ->
        R = api_select:open(pipe),
        Ref = make_ref(),
        S = api_select:select(R, read, read, Ref, self),
        Empty = api_select:read(R),
        W = api_select:write(R, <<"ping">>),
        M = receive {select, R, Ref, E} -> E after ?TIMEOUT -> timeout end,
        {S, Empty, W, M, api_select:read(R), recv(50)}
     end},
     {sel_pipe_write, fun() ->
        R = api_select:open(pipe),
        Ref = make_ref(),
        S = api_select:select(R, write, write, Ref, self),
        M = receive {select, R, Ref, E} -> E after ?TIMEOUT -> timeout end,
        {S, M, recv(50)}
     end},
     {sel_pipe_cancel, fun() ->
        R = api_select:open(pipe),
        Ref = make_ref(),
        S1 = api_select:select(R, read, read, Ref, self),
        S2 = api_select:select(R, read, cancel_read, Ref, self),
        W = api_select:write(R, <<"late">>),
        M = recv(200),
        {S1, S2, W, M, api_select:read(R),
         api_select:select(R, read, cancel_read, Ref, self)}
     end},
     {sel_other_pid, fun() ->
        Parent = self(),
        R = api_select:open(pipe),
        Ref = make_ref(),
        Helper = spawn(fun() ->
            receive {select, R1, Ref1, E} -> Parent ! {forwarded, R1 =:= R, Ref1 =:= Ref, E} end
        end),
        S = api_select:select(R, read, read, Ref, Helper),
        _ = api_select:write(R, <<"x">>),
        {S, recv(?TIMEOUT)}
     end},
     {sel_custom_msg, fun() ->
        R = api_select:open(pipe),
        S1 = api_select:select_x(R, {api_custom, 1}, false),
        _ = api_select:write(R, <<"a">>),
        M1 = recv(?TIMEOUT),
        D1 = api_select:read(R),
        S2 = api_select:select_x(R, {api_custom, 2, [<<"bin">>, self() =:= self()]}, true),
        _ = api_select:write(R, <<"b">>),
        M2 = recv(?TIMEOUT),
        {S1, M1, D1, S2, M2, api_select:read(R)}
     end},
     {sel_stop, fun() ->
        R = api_select:open(pipe),
        Ref = make_ref(),
        S0 = api_select:select(R, read, read, Ref, self),
        S1 = api_select:select(R, read, stop, undefined, self),
        M1 = recv(?TIMEOUT),
        S2 = api_select:select(R, write, stop, undefined, self),
        M2 = recv(?TIMEOUT),
        {S0, stop_kind(S1), M1, stop_kind(S2), M2, api_select:state(R), recv(50),
         t(fun() -> api_select:read(R) end)}
     end},
     {sel_eventfd, fun() ->
        R = api_select:open(eventfd),
        Ref = make_ref(),
        S = api_select:select(R, read, read, Ref, self),
        W = api_select:write(R, <<1, 2, 3>>),
        M = receive {select, R, Ref, E} -> E after ?TIMEOUT -> timeout end,
        V = api_select:read(R),
        Again = api_select:read(R),
        Stop = api_select:select(R, read, stop, undefined, self),
        {S, W, M, V, Again, stop_kind(Stop), recv(?TIMEOUT), api_select:state(R)}
     end},
     {sel_errors, fun() ->
        {api_select:bad_fd(make_ref()), t(fun() -> api_select:select(foo, read, read, x, self) end),
         t(fun() -> api_select:open(socket) end),
         t(fun() -> api_select:select(api_select:open(pipe), read, bogus, x, self) end)}
     end},
     {sel_dtor, fun() ->
        D0 = api_select:dtors(),
        ok = in_process(fun() -> _ = api_select:open(pipe), _ = api_select:open(eventfd), ok end),
        wait_for(fun() -> api_select:dtors() - D0 end, 2)
     end}].

%% Whether a stop runs at once or is scheduled depends on the poller's
%% state, which is timing: either way the stop callback must run (the
%% message checked next). Other flags are kept.
stop_kind({Status, Flags}) ->
    {Status, [case F of stop_called -> stop_ok; stop_scheduled -> stop_ok; _ -> F end || F <- Flags]}.

%% ---------------------------------------------------------------- upgrade

upgrade_cases() ->
    [{upgrade_cycle, fun() ->
        I1 = api_upgrade:info(),
        R = api_upgrade:new(5),
        G1 = api_upgrade:get(R),
        {module, api_upgrade} = code:load_file(api_upgrade),
        I2 = api_upgrade:info(),
        G2 = api_upgrade:get(R),
        G3 = api_upgrade:get(api_upgrade:new(6)),
        Purged = code:purge(api_upgrade),
        I3 = api_upgrade:info(),
        %% The dropped new(6) resource dies at this process's next GC: let it,
        %% so the baseline does not depend on when that happens.
        D0 = settle(fun api_upgrade:dtors/0),
        ok = in_process(fun() -> _ = api_upgrade:new(7), ok end),
        D1 = wait_for(fun() -> api_upgrade:dtors() end, {element(1, D0) + 1, element(2, D0) + 7}),
        {I1, G1, I2, G2, G3, Purged, I3, D1 =:= {element(1, D0) + 1, element(2, D0) + 7},
         t(fun() -> api_upgrade:get(api_resources:new(3, 1)) end)}
     end}].

%% ---------------------------------------------------------------- NIF 2.17, 2.18

%% The functions newer than NIF 2.16 (api_newer): only on a runtime that has
%% them (the library is built against its headers).
newer_cases() ->
    Minor = api_newer:nif_minor(),
    [{newer_nif_minor, fun() -> Minor end} || Minor >= 17] ++
        [C || Minor >= 17, C <- newer17_cases()] ++ [C || Minor >= 18, C <- newer18_cases()].

newer17_cases() ->
    Smile = [16#1F600],
    [{newer_load_options, fun() -> api_newer:load_options() end},
     {newer_string_length, fun() ->
        [t(fun() -> api_newer:string_length(S, E) end)
         || {S, E} <- [{"abc", latin1}, {[228, 246], latin1}, {[228, 246], utf8}, {Smile, utf8},
                       {Smile, latin1}, {[256], latin1}, {"", utf8}, {"abc", bogus},
                       {not_a_list, latin1}, {[1 | 2], utf8}, {[-1], utf8}]]
     end},
     {newer_new_atom, fun() ->
        [t(fun() -> api_newer:new_atom(B, E) end)
         || {B, E} <- [{<<"nifshim_fresh_atom">>, latin1}, {<<"ok">>, latin1},
                       {<<"åäö"/utf8>>, utf8}, {<<"caf", 233>>, latin1}, {<<255>>, utf8},
                       {<<"åäö"/utf8>>, latin1}, {binary:copy(<<"a">>, 255), latin1},
                       {binary:copy(<<"a">>, 256), latin1}, {<<"x">>, bogus}, {<<>>, utf8}]]
     end},
     {newer_utf8, fun() ->
        [t(fun() -> api_newer:utf8(A, B) end)
         || {A, B} <- [{list_to_atom([229, 228, 246]), <<"åäö"/utf8>>}, {ok, <<"ok">>},
                       {list_to_atom(Smile), <<"😀"/utf8>>},
                       {ok, <<"nifshim_never_an_atom">>}, {ok, <<255, 254>>}]]
     end}].

newer18_cases() ->
    [{newer_term_size, fun() ->
        api_newer:sizes([1, -1, 1 bsl 70, 1.5, ok, {a, b}, [1, 2, 3], "abc", <<1, 2, 3>>,
                         binary:copy(<<1>>, 100), #{a => 1}, maps:from_list([{I, I} || I <- lists:seq(1, 40)]),
                         {}, [], <<>>, fun lists:map/2])
     end},
     {newer_atom_cache_index, fun() ->
        [t(fun() -> api_newer:cache_index(A) end) || A <- [ok, true, error, undefined, nifshim_rare_atom, 1]]
     end}].

%% The option callbacks (run_case.sh api_options): unload api_newer's library (its
%% unload-thread callback runs on each scheduler thread, then unload), load
%% it again, start a dirty call that the halt must wait for (delay halt),
%% and halt while it runs (on_halt runs first). The events file says what ran.
newer_unload_then_halt(Events) ->
    {module, api_newer} = code:ensure_loaded(api_newer),
    true = code:delete(api_newer),
    true = code:soft_purge(api_newer),
    wait_for_line(Events, "unload", 500),
    {module, api_newer} = code:load_file(api_newer),
    spawn(fun() -> api_newer:slow(1500) end),
    wait_for_line(Events, "slow started", 500),
    halt().

wait_for_line(_, Line, 0) -> error({no_event, Line});
wait_for_line(File, Line, N) ->
    Lines = case file:read_file(File) of
                {ok, B} -> string:split(binary_to_list(B), "\n", all);
                _ -> []
            end,
    case lists:member(Line, Lines) of
        true -> ok;
        false -> receive after 10 -> ok end, wait_for_line(File, Line, N - 1)
    end.
