%%% @doc Deterministic memory workload for the nifshim test suite.
%%%
%%% The nifshim project moves the Erlang VM's memory into a shared-memory
%%% window.  Its tests run this module in a VM with and without that change
%%% and require the same checksum from both.  The workload covers process
%%% heaps (100k processes), large lists, tuples and maps, heap and refc
%%% binaries (up to 64 MB), ETS, message passing around a ring, the external
%%% term format, persistent_term, loading and purging module literal areas,
%%% and forced garbage collection.  Each phase checks its own results and
%%% raises an error on any mismatch.
%%%
%%% Nothing that goes into the checksum depends on pids, refs, timing,
%%% scheduling order, the node name or hash-table iteration order.
%%%
%%% Usage:
%%%   erlc nifshim_workload.erl
%%%   erl -noshell -eval 'nifshim_workload:main()'   % prints checksum=N
%%%   erl -noshell -eval 'nifshim_workload:bench(5), halt()'
%%%                                         % prints bench_ms=T per repetition
-module(nifshim_workload).

-export([run/0, main/0, bench/1]).

-define(TIMEOUT, 120000).
-define(LIT_MOD, nifshim_workload_lit).
-define(MASK48, 16#FFFFFFFFFFFF).

%%====================================================================
%% API
%%====================================================================

%% @doc Runs every phase and returns the checksum: a 128-bit integer, the
%% MD5 of the external format of the canonical per-phase results.
-spec run() -> non_neg_integer().
run() ->
    digest_int(run_phases(full_config())).

%% @doc Runs run/0, prints `checksum=<integer>' and halts with status 0, or
%% prints the error and halts with status 1.
-spec main() -> no_return().
main() ->
    try run() of
        Checksum ->
            io:format("checksum=~b~n", [Checksum]),
            erlang:halt(0)
    catch
        Class:Reason:Stack ->
            io:format(standard_error, "nifshim_workload failed: ~P~n~P~n",
                      [{Class, Reason}, 40, Stack, 40]),
            io:format("error=~P~n", [{Class, Reason}, 20]),
            erlang:halt(1)
    end.

%% @doc Runs the allocation-heavy phases (everything except the
%% 100k-process phase) Reps times and prints `bench_ms=<ms>' for each
%% repetition.
-spec bench(non_neg_integer()) -> ok.
bench(Reps) when is_integer(Reps), Reps >= 0 ->
    Cfg = bench_config(),
    lists:foreach(
      fun(_) ->
              T0 = erlang:monotonic_time(),
              _ = digest_int(run_phases(Cfg)),
              T1 = erlang:monotonic_time(),
              Ms = erlang:convert_time_unit(T1 - T0, native, millisecond),
              io:format("bench_ms=~b~n", [Ms])
      end, lists:seq(1, Reps)),
    ok.

%%====================================================================
%% Configuration and driver
%%====================================================================

full_config() ->
    #{procs => 100000,
      list_len => 1000000,
      tuple_size => 100000,
      setelements => 1000,
      map_keys => 200000,
      small_bins => 50000,
      big_bins => [1024, 1 bsl 20, 16 bsl 20, 64 bsl 20],
      append_bytes => 8 bsl 20,
      ets_entries => 200000,
      ring_size => 100,
      ring_rounds => 10,
      ring_elems => 2000,
      t2b_depth => 8,
      t2b_rounds => 3,
      pterm_rounds => 5,
      lit_loads => 20,
      lit_tuples => 50000,
      lit_compiles => 2}.

%% The same phases at a smaller scale (one repetition should take about a
%% second), without the 100k-process phase and with a single compilation
%% of the literal module (the compiler is mostly CPU, not memory, work).
bench_config() ->
    maps:merge(full_config(),
               #{procs => 0,
                 list_len => 300000,
                 setelements => 500,
                 map_keys => 60000,
                 ets_entries => 50000,
                 ring_rounds => 3,
                 t2b_depth => 6,
                 t2b_rounds => 1,
                 pterm_rounds => 2,
                 lit_loads => 6,
                 lit_tuples => 10000,
                 lit_compiles => 1}).

phases() ->
    [{procs, fun phase_procs/1},
     {lists, fun phase_lists/1},
     {tuples, fun phase_tuples/1},
     {maps, fun phase_maps/1},
     {binaries, fun phase_binaries/1},
     {ets, fun phase_ets/1},
     {ring, fun phase_ring/1},
     {t2b, fun phase_t2b/1},
     {pterm, fun phase_pterm/1},
     {literals, fun phase_literals/1}].

run_phases(Cfg) ->
    erlang:garbage_collect(),
    lists:map(
      fun({Name, Fun}) ->
              Result = Fun(Cfg),
              %% Phase 9: forced GC of self between all phases.
              erlang:garbage_collect(),
              {Name, Result}
      end, phases()).

digest_int(Term) ->
    <<C:128>> = erlang:md5(term_to_binary(Term)),
    C.

md5t(Term) ->
    erlang:md5(term_to_binary(Term)).

check(true, _What) -> ok;
check(false, What) -> erlang:error({nifshim_check_failed, What}).

%% Deterministic pseudo-random bytes (an MD5 chain).
gen_bytes(Seed, N) ->
    Blocks = (N + 15) div 16,
    Bin = << <<(erlang:md5(<<Seed:32, I:32>>))/binary>>
             || I <- lists:seq(0, Blocks - 1) >>,
    binary:part(Bin, 0, N).

gc_all(Pids) ->
    lists:foreach(fun(P) -> check(erlang:garbage_collect(P), {gc, P}) end,
                  Pids).

wait_down(Mons) ->
    lists:foreach(
      fun(Ref) ->
              receive
                  {'DOWN', Ref, process, _, Reason} ->
                      check(Reason =:= normal, {exit_reason, Reason})
              after ?TIMEOUT ->
                      erlang:error({timeout, wait_down})
              end
      end, Mons).

%%====================================================================
%% Phase 1: 100k processes
%%====================================================================

phase_procs(#{procs := 0}) ->
    skipped;
phase_procs(#{procs := N}) ->
    Parent = self(),
    Mons = spawn_procs(1, N, Parent, #{}),
    Results = collect_procs(2 * N, Mons, #{}),
    check(map_size(Results) =:= N, procs_count),
    Terms = [begin
                 T = maps:get(I, Results),
                 check(T =:= proc_term(I), {proc_term, I}),
                 T
             end || I <- lists:seq(1, N)],
    SumSq = lists:sum([element(2, T) || T <- Terms]),
    check(SumSq =:= N * (N + 1) * (2 * N + 1) div 6, procs_sum),
    {N, SumSq, md5t(Terms)}.

proc_term(I) ->
    {I, I * I, integer_to_binary(I),
     [I rem 7, I rem 13 | lists:seq(1, I rem 5)],
     <<I:32, (I bxor 16#5A5A5A):32>>}.

spawn_procs(I, N, _Parent, Mons) when I > N ->
    Mons;
spawn_procs(I, N, Parent, Mons) ->
    {_Pid, Ref} = spawn_monitor(fun() -> proc_body(I, Parent) end),
    spawn_procs(I + 1, N, Parent, Mons#{Ref => I}).

proc_body(I, Parent) ->
    T = proc_term(I),
    Garbage = lists:foldl(fun(X, A) -> [{X, I} | A] end, [], lists:seq(1, 20)),
    check(length(Garbage) =:= 20, proc_garbage),
    erlang:garbage_collect(),
    Parent ! {nifshim_proc, I, T},
    ok.

collect_procs(0, Mons, Acc) ->
    check(map_size(Mons) =:= 0, procs_all_exited),
    Acc;
collect_procs(K, Mons, Acc) ->
    receive
        {nifshim_proc, I, T} ->
            check(not is_map_key(I, Acc), {duplicate_proc, I}),
            collect_procs(K - 1, Mons, Acc#{I => T});
        {'DOWN', Ref, process, _, Reason} when is_map_key(Ref, Mons) ->
            check(Reason =:= normal, {proc_exit, Reason}),
            collect_procs(K - 1, maps:remove(Ref, Mons), Acc)
    after ?TIMEOUT ->
            erlang:error({timeout, procs, K})
    end.

%%====================================================================
%% Phase 2: large lists, tuples and maps
%%====================================================================

phase_lists(#{list_len := N}) ->
    check(N < 1000003, list_len),
    L = lists:seq(1, N),
    Sum = lists:sum(L),
    check(Sum =:= N * (N + 1) div 2, list_sum),
    %% 1000003 is prime, so X -> X*7919 mod 1000003 is injective on 1..N.
    M = lists:map(fun(X) -> (X * 7919) rem 1000003 end, L),
    R = lists:reverse(M),
    check(hd(R) =:= lists:last(M), reverse),
    check(length(R) =:= N, reverse_len),
    Sorted = lists:sort(R),
    check(length(Sorted) =:= N, sort_len),
    check(strictly_sorted(Sorted), sorted),
    SumM = lists:sum(M),
    check(lists:sum(Sorted) =:= SumM, sort_sum),
    check(length(lists:usort(M)) =:= N, usort),
    erlang:garbage_collect(),
    {Sum, SumM, weighted(Sorted), lists:nth(N div 2, Sorted),
     md5t(lists:sublist(Sorted, 1000))}.

strictly_sorted([A | [B | _] = T]) -> A < B andalso strictly_sorted(T);
strictly_sorted(_) -> true.

weighted(L) ->
    {_, W} = lists:foldl(fun(X, {I, A}) -> {I + 1, (A + X * I) band ?MASK48} end,
                         {1, 0}, L),
    W.

phase_tuples(#{tuple_size := N, setelements := K}) ->
    T0 = list_to_tuple(lists:seq(1, N)),
    check(tuple_size(T0) =:= N, tuple_size),
    T1 = churn(1, K, N, T0),
    check(tuple_size(T1) =:= N, tuple_size_after),
    L1 = tuple_to_list(T1),
    check(lists:sum(L1) =:= N * (N + 1) div 2 + K * (K + 1) div 2, tuple_sum),
    check(element(N, T0) =:= N, tuple_unchanged),
    {N, K, weighted(L1), md5t(T1)}.

churn(I, K, _N, T) when I > K ->
    T;
churn(I, K, N, T) ->
    Idx = (I * 7919) rem N + 1,
    T2 = setelement(Idx, T, element(Idx, T) + I),
    case I rem 250 of
        0 -> erlang:garbage_collect();
        _ -> ok
    end,
    churn(I + 1, K, N, T2).

phase_maps(#{map_keys := N}) ->
    Keys = lists:seq(1, N),
    M0 = maps:from_list([{K, K * 2} || K <- Keys]),
    check(map_size(M0) =:= N, map_size0),
    M1 = lists:foldl(fun(K, M) -> V = maps:get(K, M), M#{K := V + K rem 13} end,
                     M0, lists:seq(2, N, 2)),
    M2 = lists:foldl(fun(K, M) -> M#{{bin, K} => <<K:32, "map">>} end,
                     M1, lists:seq(1, N, 10)),
    M3 = lists:foldl(fun(K, M) -> maps:remove(K, M) end, M2, lists:seq(3, N, 3)),
    Size = N + (N + 9) div 10 - N div 3,
    check(map_size(M3) =:= Size, map_size3),
    check(maps:get(1, M0) =:= 2, map_persistent),
    erlang:garbage_collect(),
    %% Fold in sorted key order.
    Sorted = lists:sort(maps:keys(M3)),
    {Cnt, IntSum, W} =
        lists:foldl(
          fun(K, {C, S, Acc}) ->
                  case maps:get(K, M3) of
                      V when is_integer(V) ->
                          {C + 1, S + V, (Acc * 31 + V) band ?MASK48};
                      B when is_binary(B) ->
                          <<X:32, "map">> = B,
                          check(X =:= element(2, K), {map_bin, K}),
                          {C + 1, S, (Acc * 31 + X) band ?MASK48}
                  end
          end, {0, 0, 0}, Sorted),
    check(Cnt =:= Size, map_fold_count),
    %% Order-independent fold must agree.
    FoldSum = maps:fold(fun(_, V, A) when is_integer(V) -> A + V;
                           (_, _, A) -> A
                        end, 0, M3),
    check(FoldSum =:= IntSum, map_fold_sum),
    Expected = lists:sum([2 * K + case K rem 2 of 0 -> K rem 13; 1 -> 0 end
                          || K <- Keys, K rem 3 =/= 0]),
    check(IntSum =:= Expected, map_expected_sum),
    {Size, IntSum, W, md5t(lists:sort(maps:to_list(M3)))}.

%%====================================================================
%% Phase 3: binaries
%%====================================================================

phase_binaries(#{small_bins := NS, big_bins := Sizes, append_bytes := AppendBytes}) ->
    %% Small heap binaries.
    Small = [<<I:16, (I * 3):32, "nifshim-small", (I rem 251):8>>
             || I <- lists:seq(1, NS)],
    check(lists:all(fun(B) -> byte_size(B) =:= 20 end, Small), small_size),
    SmallCat = iolist_to_binary(Small),
    check(byte_size(SmallCat) =:= 20 * NS, small_cat),
    SmallMd5 = erlang:md5(SmallCat),
    check(erlang:md5(Small) =:= SmallMd5, small_md5),

    %% Refc binaries built with binary:copy.
    Seed = gen_bytes(1, 1024),
    Bigs = [big_bin(Seed, S) || S <- Sizes],
    BigInfo = [big_info(Seed, B) || B <- Bigs],
    Largest = lists:last(Bigs),
    LSize = byte_size(Largest),
    %% Same content built a second way, from the next-largest binary.
    Prev = lists:nth(length(Bigs) - 1, Bigs),
    Largest2 = binary:copy(Prev, LSize div byte_size(Prev)),
    check(Largest2 =:= Largest, big_rebuilt),
    %% A small sub binary that keeps the large one alive.
    KeepOff = (LSize div 2) + 17,
    Keep = binary:part(Largest, KeepOff, 100),
    KeepCopy = binary:copy(Keep),
    check(KeepCopy =:= binary:part(Seed, KeepOff rem 1024, 100), keep_part),
    Matches = length(binary:matches(lists:nth(2, Bigs), binary:part(Seed, 0, 8))),
    check(Matches >= byte_size(lists:nth(2, Bigs)) div 1024, matches),

    %% Append loop growing one binary to several MB.
    Base = gen_bytes(2, 4092),
    NChunks = AppendBytes div 4096,
    Acc = append_loop(0, NChunks, Base, <<>>),
    check(byte_size(Acc) =:= NChunks * 4096, append_size),
    HdrSum = header_sum(Acc, Base, 0),
    check(HdrSum =:= NChunks * (NChunks - 1) div 2, append_headers),
    Subs = [binary:part(Acc, K * 4096, 4096) || K <- lists:seq(0, NChunks - 1, 97)],
    lists:foreach(fun(S) -> <<_:32, Body/binary>> = S,
                            check(Body =:= Base, append_body)
                  end, Subs),
    erlang:garbage_collect(),
    check(Keep =:= KeepCopy, keep_after_gc),
    {SmallMd5, BigInfo, Matches, erlang:md5(Acc), HdrSum, md5t(Subs),
     erlang:md5(Keep)}.

big_bin(Seed, Size) ->
    B = binary:copy(Seed, Size div byte_size(Seed)),
    check(byte_size(B) =:= Size, {big_size, Size}),
    B.

big_info(Seed, B) ->
    Size = byte_size(B),
    SS = byte_size(Seed),
    check(binary:part(B, 0, SS) =:= Seed, big_first),
    check(binary:part(B, Size - SS, SS) =:= Seed, big_last),
    Mid = (Size div SS div 2) * SS,
    <<_:Mid/binary, M:SS/binary, _/binary>> = B,
    check(M =:= Seed, big_mid),
    {Size, erlang:md5(B)}.

append_loop(I, N, _Base, Acc) when I >= N ->
    Acc;
append_loop(I, N, Base, Acc) ->
    Chunk = <<I:32, Base/binary>>,
    append_loop(I + 1, N, Base, <<Acc/binary, Chunk/binary>>).

header_sum(<<>>, _Base, S) ->
    S;
header_sum(<<H:32, Body:4092/binary, Rest/binary>>, Base, S) ->
    check(Body =:= Base, header_body),
    header_sum(Rest, Base, S + H).

%%====================================================================
%% Phase 4: ETS
%%====================================================================

phase_ets(#{ets_entries := N}) ->
    Set = ets:new(nifshim_set, [set, public]),
    Ord = ets:new(nifshim_ord, [ordered_set, public]),
    Tabs = [Set, Ord],
    Keys = lists:seq(1, N),
    lists:foreach(fun(K) -> E = ets_entry(K),
                            [true = ets:insert(T, E) || T <- Tabs]
                  end, Keys),
    [check(ets:info(T, size) =:= N, ets_size0) || T <- Tabs],
    %% Lookups.
    lists:foreach(fun(K) -> E = ets_entry(K),
                            [check(ets:lookup(T, K) =:= [E], {ets_lookup, K})
                             || T <- Tabs],
                            check(ets:lookup_element(Ord, K, 2) =:= element(2, E),
                                  ets_lookup_element)
                  end, lists:seq(1, N, 7)),
    %% Updates, overwrites and deletes.
    lists:foreach(
      fun(K) ->
              [begin
                   case K rem 10 of
                       0 -> true = ets:update_element(T, K, {3, {K, updated}});
                       _ -> ok
                   end,
                   case K rem 4 of
                       0 -> check(ets:update_counter(T, K, {4, K}) =:= K,
                                  ets_counter);
                       _ -> ok
                   end,
                   case K rem 17 of
                       0 -> true = ets:insert(T, ets_overwrite(K));
                       _ -> ok
                   end,
                   case K rem 9 of
                       0 -> true = ets:delete(T, K);
                       _ -> ok
                   end
               end || T <- Tabs]
      end, Keys),
    Expected = [ets_expected(K) || K <- Keys, K rem 9 =/= 0],
    Size = length(Expected),
    [check(ets:info(T, size) =:= Size, ets_size1) || T <- Tabs],
    erlang:garbage_collect(),
    L1 = lists:sort(ets:tab2list(Set)),
    L2 = ets:tab2list(Ord),
    check(L1 =:= Expected, ets_set_contents),
    check(L2 =:= Expected, ets_ord_contents),
    CounterSum = ets:foldl(fun(E, A) -> A + element(4, E) end, 0, Set),
    check(CounterSum =:= lists:sum([element(4, E) || E <- Expected]), ets_foldl),
    Sel = ets:select(Ord, [{{'$1', '_', '_', '$2'}, [{'>', '$2', 0}], ['$1']}]),
    check(Sel =:= [element(1, E) || E <- Expected, element(4, E) > 0], ets_select),
    [true = ets:delete(T) || T <- Tabs],
    [check(ets:info(T) =:= undefined, ets_deleted) || T <- Tabs],
    {Size, CounterSum, length(Sel), md5t(L1)}.

ets_entry(K) ->
    Bin = case K rem 1000 of
              0 -> binary:copy(<<K:32>>, 512);   % refc binary
              _ -> <<K:32, "ets-value", (K rem 251):8>>
          end,
    {K, Bin, {K, K * K, [K rem 3, K rem 5]}, 0}.

ets_overwrite(K) ->
    {K, <<"overwritten", K:32>>, {overwritten, K}, 0}.

ets_expected(K) ->
    case K rem 17 of
        0 ->
            ets_overwrite(K);
        _ ->
            {K, B, T, C} = ets_entry(K),
            T2 = case K rem 10 of 0 -> {K, updated}; _ -> T end,
            C2 = case K rem 4 of 0 -> C + K; _ -> C end,
            {K, B, T2, C2}
    end.

%%====================================================================
%% Phase 5: messages around a ring
%%====================================================================

phase_ring(#{ring_size := N, ring_rounds := Rounds, ring_elems := E}) ->
    Parent = self(),
    Big = gen_bytes(3, 64 * 1024),
    Term0 = [{I, 0, <<I:32, "ring">>,
              binary:part(Big, (I * 97) rem (byte_size(Big) - 256), 256),
              integer_to_list(I)}
             || I <- lists:seq(1, E)],
    Static0 = ring_static(Term0),
    %% Build the ring backwards; the last process sends to the parent.
    {First, PidMons} =
        lists:foldl(fun(_, {Next, Acc}) ->
                            {P, R} = spawn_monitor(fun() -> ring_proc(Next) end),
                            {P, [{P, R} | Acc]}
                    end, {Parent, []}, lists:seq(1, N)),
    Pids = [P || {P, _} <- PidMons],
    Final = ring_rounds(1, Rounds, N, First, Pids, Term0),
    check(ring_static(Final) =:= Static0, ring_payload),
    check(lists:all(fun({_, C, _, _, _}) -> C =:= Rounds * N end, Final),
          ring_counters),
    lists:foreach(fun(P) -> P ! nifshim_stop end, Pids),
    wait_down([R || {_, R} <- PidMons]),
    {N, Rounds, md5t(Final)}.

ring_static(T) ->
    [{I, B, S, L} || {I, _, B, S, L} <- T].

ring_rounds(R, Rounds, _N, _First, _Pids, Term) when R > Rounds ->
    Term;
ring_rounds(R, Rounds, N, First, Pids, Term) ->
    First ! {nifshim_ring, R, Term},
    receive
        {nifshim_ring, R, Term2} ->
            check(lists:all(fun({_, C, _, _, _}) -> C =:= R * N end, Term2),
                  {ring_round, R}),
            %% Phase 9: GC every process in the ring, and self.
            gc_all(Pids),
            erlang:garbage_collect(),
            ring_rounds(R + 1, Rounds, N, First, Pids, Term2)
    after ?TIMEOUT ->
            erlang:error({timeout, ring, R})
    end.

ring_proc(Next) ->
    receive
        {nifshim_ring, R, T} ->
            T2 = [{I, C + 1, B, S, L} || {I, C, B, S, L} <- T],
            Next ! {nifshim_ring, R, T2},
            ring_proc(Next);
        nifshim_stop ->
            ok
    end.

%%====================================================================
%% Phase 6: term_to_binary / binary_to_term
%%====================================================================

phase_t2b(#{t2b_depth := D, t2b_rounds := Rounds}) ->
    Tree = tree(D, 1),
    Term = {nifshim, Tree, gen_bytes(4, 1 bsl 20), lists:seq(1, 10000),
            "a string", [atom_a, 'atom b'], -12345678901234567890123,
            1 bsl 200, {}, [], <<>>},
    Plain = term_to_binary(Term),
    Comp = term_to_binary(Term, [compressed]),
    check(erlang:external_size(Term) >= byte_size(Plain), t2b_external_size),
    check(byte_size(Comp) < byte_size(Plain), t2b_compressed_smaller),
    lists:foreach(
      fun(_) ->
              check(binary_to_term(term_to_binary(Term)) =:= Term, t2b_plain),
              check(binary_to_term(term_to_binary(Term, [compressed])) =:= Term,
                    t2b_compressed),
              check(binary_to_term(term_to_binary(Term, [{compressed, 1}]), [safe])
                    =:= Term, t2b_compressed1),
              erlang:garbage_collect()
      end, lists:seq(1, Rounds)),
    check(binary_to_term(Comp) =:= binary_to_term(Plain), t2b_same),
    %% Decode from a sub binary of a larger binary.
    PS = byte_size(Plain),
    Wrapped = <<"head", Plain/binary, "tail">>,
    <<_:4/binary, Inner:PS/binary, "tail">> = Wrapped,
    check(binary_to_term(Inner) =:= Term, t2b_sub_binary),
    {Decoded, Used} = binary_to_term(<<Plain/binary, "tail">>, [used]),
    check(Decoded =:= Term andalso Used =:= PS, t2b_used),
    %% A large map; only order-independent facts go into the result.
    Map = maps:from_list([{I, {I, <<I:16>>}} || I <- lists:seq(1, 50000)]),
    MapBin = term_to_binary(Map),
    check(binary_to_term(MapBin) =:= Map, t2b_map),
    check(binary_to_term(term_to_binary(Map, [compressed])) =:= Map,
          t2b_map_compressed),
    {PS, erlang:md5(Plain), tree_count(Tree), byte_size(MapBin)}.

tree(0, I) ->
    {leaf, I, <<I:64>>, integer_to_list(I), -I, I bsl 70};
tree(D, I) ->
    {node, D, I, [tree(D - 1, I * 4 + K) || K <- [0, 1, 2, 3]], <<D:8, I:32>>}.

tree_count({leaf, _, _, _, _, _}) -> 1;
tree_count({node, _, _, Cs, _}) -> lists:sum([tree_count(C) || C <- Cs]).

%%====================================================================
%% Phase 7: persistent_term
%%====================================================================

phase_pterm(#{pterm_rounds := Rounds}) ->
    KeyL = {?MODULE, big_list},
    KeyM = {?MODULE, big_map},
    {Holder, HRef} = spawn_monitor(fun() -> holder_loop(none) end),
    Res = [pterm_round(R, KeyL, KeyM, Holder) || R <- lists:seq(1, Rounds)],
    Holder ! nifshim_stop,
    wait_down([HRef]),
    Res.

pterm_round(R, KeyL, KeyM, Holder) ->
    L = [{I, R} || I <- lists:seq(1, 100000)],
    M = maps:from_list([{I, <<I:32, R:8>>} || I <- lists:seq(1, 20000)]),
    ok = persistent_term:put(KeyL, L),
    ok = persistent_term:put(KeyM, M),
    GotL = persistent_term:get(KeyL),
    GotM = persistent_term:get(KeyM),
    check(GotL =:= L, pterm_list),
    check(GotM =:= M, pterm_map),
    lists:foreach(fun(I) ->
                          check(maps:get(I, persistent_term:get(KeyM)) =:= <<I:32, R:8>>,
                                pterm_map_get)
                  end, lists:seq(1, 20000, 13)),
    Holder ! {nifshim_hold, GotL},
    %% Replace and erase; the old values must survive in self and in the
    %% holder process.
    ok = persistent_term:put(KeyL, {replaced, R}),
    check(persistent_term:get(KeyL) =:= {replaced, R}, pterm_replaced),
    check(GotL =:= L, pterm_list_after_replace),
    true = persistent_term:erase(KeyL),
    true = persistent_term:erase(KeyM),
    check(persistent_term:get(KeyL, undefined) =:= undefined, pterm_erased),
    check(persistent_term:get(KeyM, undefined) =:= undefined, pterm_erased),
    erlang:garbage_collect(),
    check(GotM =:= M, pterm_map_after_erase),
    LMd5 = md5t(L),
    check(holder_md5(Holder) =:= LMd5, pterm_holder),
    {R, LMd5, map_size(GotM), maps:get(777, GotM)}.

holder_loop(Held) ->
    receive
        {nifshim_hold, T} ->
            erlang:garbage_collect(),
            holder_loop(T);
        {nifshim_md5, From} ->
            erlang:garbage_collect(),
            From ! {nifshim_md5, self(), md5t(Held)},
            holder_loop(Held);
        nifshim_stop ->
            ok
    end.

holder_md5(Holder) ->
    Holder ! {nifshim_md5, self()},
    receive
        {nifshim_md5, Holder, Md5} -> Md5
    after ?TIMEOUT ->
            erlang:error({timeout, holder})
    end.

%%====================================================================
%% Phase 8: load/purge of a module with large literals
%%====================================================================

phase_literals(#{lit_loads := Loads, lit_tuples := NT, lit_compiles := NC}) ->
    Mod = ?LIT_MOD,
    _ = code:purge(Mod),
    _ = code:delete(Mod),
    _ = code:purge(Mod),
    check(code:is_loaded(Mod) =:= false, lit_not_loaded),
    %% NC distinct versions of the module, each compiled at run time from
    %% abstract forms; the loads cycle through them.
    Variants = list_to_tuple([lit_variant(G, NT) || G <- lists:seq(0, NC - 1)]),
    {Holder, HRef} = spawn_monitor(fun() -> holder_loop(none) end),
    Res = lit_loop(1, Loads, Mod, Variants, Holder, none, []),
    Holder ! nifshim_stop,
    wait_down([HRef]),
    check(code:is_loaded(Mod) =:= false, lit_unloaded),
    Res.

lit_variant(G, NT) ->
    Tuples = [{I, I * 3 + G, I rem 97} || I <- lists:seq(1, NT)],
    Bin = gen_bytes(100 + G, 1 bsl 20),
    Expected = {G, Tuples, Bin},
    {ok, ?LIT_MOD, Beam} = compile:forms(lit_forms(G, Tuples, Bin),
                                         [binary, return_errors]),
    {G, Expected, md5t(Expected), Beam}.

lit_forms(G, Tuples, Bin) ->
    L = 1,
    %% The 1 MB binary literal as 1 KB integer segments: the compiler folds
    %% them into a single literal much faster than a 1 MB string segment.
    BinExpr = {bin, L, [{bin_element, L, {integer, L, binary:decode_unsigned(C)},
                         {integer, L, 8192}, default}
                        || <<C:1024/binary>> <= Bin]},
    Lit = {tuple, L, [{integer, L, G}, erl_parse:abstract(Tuples, L), BinExpr]},
    [{attribute, L, file, {"nifshim_workload_lit.erl", L}},
     {attribute, L, module, ?LIT_MOD},
     {attribute, L, export, [{lit, 0}, {gen, 0}]},
     {function, L, lit, 0, [{clause, L, [], [], [Lit]}]},
     {function, L, gen, 0, [{clause, L, [], [], [{integer, L, G}]}]},
     {eof, L}].

lit_loop(I, Loads, _Mod, _Variants, _Holder, _Prev, Acc) when I > Loads ->
    lists:reverse(Acc);
lit_loop(I, Loads, Mod, Variants, Holder, Prev, Acc) ->
    {G, Expected, ExpMd5, Beam} = element(I rem tuple_size(Variants) + 1, Variants),
    {module, Mod} = code:load_binary(Mod, "nifshim_workload_lit.erl", Beam),
    check(Mod:gen() =:= G, {lit_gen, I}),
    Lit = Mod:lit(),
    check(Lit =:= Expected, {lit_value, I}),
    Holder ! {nifshim_hold, Lit},
    check(holder_md5(Holder) =:= ExpMd5, {lit_holder_before, I}),
    true = code:delete(Mod),
    check(code:is_loaded(Mod) =:= false, {lit_deleted, I}),
    check(erlang:check_old_code(Mod), {lit_old_code, I}),
    %% No process runs the old code, so nothing is killed; the literal
    %% area is freed and references to it are copied to the heaps.
    check(code:purge(Mod) =:= false, {lit_purge, I}),
    check(not erlang:check_old_code(Mod), {lit_purged, I}),
    erlang:garbage_collect(),
    check(Lit =:= Expected, {lit_after_purge, I}),
    check(holder_md5(Holder) =:= ExpMd5, {lit_holder_after, I}),
    case Prev of
        none -> ok;
        {PrevLit, PrevMd5} -> check(md5t(PrevLit) =:= PrevMd5, {lit_prev, I})
    end,
    lit_loop(I + 1, Loads, Mod, Variants, Holder, {Lit, ExpMd5},
             [{I, G, ExpMd5} | Acc]).
