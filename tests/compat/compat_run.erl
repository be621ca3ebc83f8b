%% Runner for the nifshim compatibility matrix.
%%   compat_run:run(Lib, OutFile)   run compat_<Lib>:cases(), write the results
%%   compat_run:compare(Lib, NativeFile, IsoFile, JsonOut)
-module(compat_run).
-export([run/2, compare/4, libs/0]).

libs() -> [jiffy, bitcask, fxml, stringprep, fast_yaml, fast_tls, iconv, mqtree,
           ezlib, xmpp, crypto, asn1, dyntrace].

%% Library -> [{Module, SoBaseName}]: its NIF libraries, each with the module
%% that loads it (the .so lives in priv/ or priv/lib/ of the module's app dir).
sos(jiffy) -> [{jiffy, "jiffy.so"}];
sos(bitcask) -> [{bitcask, "bitcask.so"}];
sos(fxml) -> [{fxml, "fxml.so"}, {fxml_stream, "fxml_stream.so"}];
sos(stringprep) -> [{stringprep, "stringprep.so"}];
sos(fast_yaml) -> [{fast_yaml, "fast_yaml.so"}];
sos(fast_tls) -> [{fast_tls, "fast_tls.so"}, {p1_sha, "p1_sha.so"}];
sos(iconv) -> [{iconv, "iconv.so"}];
sos(mqtree) -> [{mqtree, "mqtree.so"}];
sos(ezlib) -> [{ezlib, "ezlib.so"}];
sos(xmpp) -> [{jid, "jid.so"}, {xmpp_lang, "xmpp_lang.so"}, {xmpp_uri, "xmpp_uri.so"}];
sos(crypto) -> [{crypto, "crypto.so"}];
sos(asn1) -> [{asn1rt_nif, "asn1rt_nif.so"}];
sos(dyntrace) -> [{dyntrace, "dyntrace.so"}].

run(Lib0, OutFile0) ->
    Lib = to_atom(Lib0),
    OutFile = to_list(OutFile0),
    try
        Mod = list_to_atom("compat_" ++ atom_to_list(Lib)),
        Cases = Mod:cases(),
        Results = [run_case(Name, F) || {Name, F} <- Cases],
        Iso = case os:getenv("NIFSHIM_COMPAT_CHECK_ISOLATION") of
                  "1" -> [{isolation, check_isolation(Lib)}];
                  _ -> []
              end,
        ok = file:write_file(OutFile, term_to_binary(Results ++ Iso)),
        io:format("cases=~b~n", [length(Results)]),
        erlang:halt(0)
    catch C:R:St ->
            io:format(standard_error, "compat_run: ~p crashed: ~p:~p~n~p~n", [Lib, C, R, St]),
            erlang:halt(1)
    end.

run_case(Name, F) ->
    %% each case in its own process: a crash or a stray message stays local
    Parent = self(),
    T0 = erlang:monotonic_time(millisecond),
    Res = run_case1(Parent, Name, F),
    case os:getenv("NIFSHIM_COMPAT_VERBOSE") of
        "1" -> io:format(standard_error, "  ~p: ~b ms~n",
                         [Name, erlang:monotonic_time(millisecond) - T0]);
        _ -> ok
    end,
    Res.

run_case1(Parent, Name, F) ->
    {P, M} = spawn_monitor(fun() ->
                                   R = try {ok, F()}
                                       catch C:E -> {crashed, C, E}
                                       end,
                                   Parent ! {self(), R}
                           end),
    wait_case(P, M, Name, 0).

%% Waits for the case; every 20 s without an answer, writes what every
%% process of the VM is doing to stderr; gives up after 100 s.
wait_case(P, _M, Name, Waited) when Waited >= 100000 ->
    exit(P, kill),
    {Name, {crashed, timeout, Waited}};
wait_case(P, M, Name, Waited) ->
    receive
        {P, R} -> erlang:demonitor(M, [flush]), {Name, scrub(R)};
        {'DOWN', M, process, P, Why} -> {Name, {crashed, exit, scrub(Why)}}
    after 20000 ->
            dump_processes(Name, Waited + 20000),
            wait_case(P, M, Name, Waited + 20000)
    end.

dump_processes(Name, Waited) ->
    io:format(standard_error, "compat_run: case ~p still running after ~b ms; processes:~n",
              [Name, Waited]),
    [case process_info(Q, [current_stacktrace, reductions, status, message_queue_len,
                           total_heap_size, initial_call]) of
         undefined -> ok;
         Info ->
             {reductions, Red} = lists:keyfind(reductions, 1, Info),
             case Red > 100000 orelse element(2, lists:keyfind(status, 1, Info)) =/= waiting of
                 true -> io:format(standard_error, "  ~p ~P~n", [Q, Info, 60]);
                 false -> ok
             end
     end || Q <- processes()],
    ok.

%% Safety net: pids, refs and ports differ between any two VMs; a case should
%% not return them, but if one does (an error term carrying a ref), keep the
%% shape and drop the identity.
scrub(T) when is_pid(T) -> '<pid>';
scrub(T) when is_reference(T) -> '<ref>';
scrub(T) when is_port(T) -> '<port>';
scrub(T) when is_list(T) -> scrub_list(T);
scrub(T) when is_tuple(T) -> list_to_tuple(scrub_list(tuple_to_list(T)));
scrub(T) when is_map(T) -> maps:from_list(scrub_list(maps:to_list(T)));
scrub(T) -> T.

scrub_list([]) -> [];
scrub_list([H | T]) -> [scrub(H) | scrub_list(T)];
scrub_list(T) -> scrub(T).  % improper tail

%% ---- isolation check -------------------------------------------------------

check_isolation(Lib) ->
    try
        %% a .so counts as loaded by this VM if the module that loads it is
        %% loaded (its on_load / load_nif ran during the cases)
        Found = [{Mod, so_path(Mod, So)} || {Mod, So} <- sos(Lib)],
        Missing = [{no_so_file, Mod} || {Mod, false} <- Found],
        Loaded = [P || {Mod, P} <- Found, P =/= false, erlang:module_loaded(Mod)],
        Own = maps_of(os:getpid()),
        Kids = [K || K <- children(os:getpid()), is_worker(K)],
        KidMaps = [{K, maps_of(K)} || K <- Kids],
        Problems =
            Missing ++
            [{in_vm, filename:basename(P)} || P <- Loaded, mapped(P, Own)] ++
            [{not_in_worker, filename:basename(P)}
             || P <- Loaded, not lists:any(fun({_, Mp}) -> mapped(P, Mp) end, KidMaps)],
        case {Loaded, Problems} of
            {[], _} -> {failed, {no_library_loaded, Missing}};
            {_, []} -> ok;
            _ -> {failed, Problems}
        end
    catch C:R -> {failed, {C, R}}
    end.

so_path(Mod, So) ->
    case code:which(Mod) of
        F when is_list(F) ->
            AppDir0 = filename:dirname(filename:dirname(F)),
            %% on another runtime the Debian apps are linked in (scripts/compat):
            %% /proc/PID/maps names the file itself
            AppDir = case file:read_link(AppDir0) of
                         {ok, Target} -> filename:absname(Target, filename:dirname(AppDir0));
                         _ -> AppDir0
                     end,
            Cands = [filename:join([AppDir, "priv", So]), filename:join([AppDir, "priv", "lib", So])],
            case [C || C <- Cands, filelib:is_regular(C)] of
                [C | _] -> C;
                [] -> false
            end;
        _ -> false
    end.

maps_of(Pid) ->
    case file:read_file("/proc/" ++ Pid ++ "/maps") of
        {ok, B} -> B;
        _ -> <<>>
    end.

mapped(Path, Maps) ->
    Real = real_path(Path),
    binary:match(Maps, list_to_binary(Real)) =/= nomatch
        orelse binary:match(Maps, list_to_binary(Path)) =/= nomatch.

real_path(P) ->
    case file:read_link_all(P) of
        {ok, L} -> filename:absname(L, filename:dirname(P));
        _ -> P
    end.

children(Pid) ->
    {ok, Tasks} = file:list_dir("/proc/" ++ Pid ++ "/task"),
    lists:usort(lists:append(
                  [case file:read_file("/proc/" ++ Pid ++ "/task/" ++ T ++ "/children") of
                       {ok, B} -> string:lexemes(binary_to_list(B), " \n");
                       _ -> []
                   end || T <- Tasks])).

is_worker(Pid) ->
    case file:read_file("/proc/" ++ Pid ++ "/comm") of
        {ok, <<"nif:", _/binary>>} -> true;
        _ -> false
    end.

%% ---- comparison ------------------------------------------------------------

compare(Lib0, NativeFile, IsoFile, JsonOut) ->
    Lib = to_atom(Lib0),
    N = read_results(NativeFile),
    I = read_results(IsoFile),
    Names = case {N, I} of
                {{ok, NL}, _} -> [K || {K, _} <- NL, K =/= isolation];
                {_, {ok, IL}} -> [K || {K, _} <- IL, K =/= isolation];
                _ -> []
            end,
    Total = length(Names),
    Get = fun({ok, L}, K) -> case lists:keyfind(K, 1, L) of
                                 {K, V} -> V;
                                 false -> missing
                             end;
             (_, _) -> run_failed
          end,
    Pass = fun(R) -> length([K || K <- Names, passed(Get(R, K))]) end,
    Diffs = [{K, Get(N, K), Get(I, K)} || K <- Names, Get(N, K) =/= Get(I, K)],
    Iso = case I of
              {ok, IL2} -> case lists:keyfind(isolation, 1, IL2) of
                               {isolation, ok} -> yes;
                               {isolation, F} -> {no, F};
                               false -> {no, not_checked}
                           end;
              _ -> {no, run_failed}
          end,
    [io:format("DIFF ~p/~p:~n  native:   ~ts~n  isolated: ~ts~n", [Lib, K, fmt(A), fmt(B)])
     || {K, A, B} <- Diffs],
    case Iso of
        yes -> ok;
        {no, Why} -> io:format("ISOLATION ~p: ~ts~n", [Lib, fmt(Why)])
    end,
    RunState = fun({ok, _}) -> <<"ok">>; (E) -> bin(fmt(E)) end,
    Rc = fun(V) -> case os:getenv(V) of false -> -1; S -> list_to_integer(S) end end,
    Log = nifshim_log(os:getenv("COMPAT_ISO_STDERR")),
    Json = json_obj([{<<"library">>, {str, atom_to_binary(Lib)}},
                     {<<"total">>, Total},
                     {<<"native_pass">>, Pass(N)},
                     {<<"isolated_pass">>, Pass(I)},
                     {<<"native_run">>, {str, RunState(N)}},
                     {<<"native_exit">>, Rc("COMPAT_NATIVE_RC")},
                     {<<"isolated_exit">>, Rc("COMPAT_ISO_RC")},
                     {<<"nifshim_log">>, {list, [json_str(L) || L <- Log]}},
                     {<<"isolated_run">>, {str, RunState(I)}},
                     {<<"identical">>, Total - length(Diffs)},
                     {<<"isolation_proven">>, Iso =:= yes},
                     {<<"isolation_detail">>, {str, case Iso of yes -> <<"ok">>; {no, W} -> bin(fmt(W)) end}},
                     {<<"rebuilt">>, {str, <<"n/a (Debian binary)">>}},
                     {<<"differences">>,
                      {list, [json_obj([{<<"case">>, {str, atom_to_binary(K)}},
                                        {<<"native">>, {str, bin(fmt(A))}},
                                        {<<"isolated">>, {str, bin(fmt(B))}}])
                              || {K, A, B} <- Diffs]}}]),
    ok = file:write_file(to_list(JsonOut), Json),
    io:format("~p ~b ~b ~b ~b ~s~n",
              [Lib, Total, Pass(N), Pass(I), Total - length(Diffs),
               case Iso of yes -> "yes"; _ -> "no" end]),
    erlang:halt(0).

%% The isolated VM's stderr lines written by the shim or a worker.
nifshim_log(false) -> [];
nifshim_log(File) ->
    case file:read_file(File) of
        {ok, B} ->
            Ls = [L || L <- binary:split(B, <<"\n">>, [global]),
                       binary:match(L, [<<"nifshim[">>, <<"nifshim-worker">>]) =/= nomatch],
            lists:sublist(Ls, 50);
        _ -> []
    end.

read_results(F) ->
    case file:read_file(to_list(F)) of
        {ok, B} -> try {ok, binary_to_term(B)} catch _:_ -> {error, corrupt_result_file} end;
        {error, E} -> {error, {no_result_file, E}}
    end.

%% A case passes if it ran to completion (expected errors are returned as
%% values by the cases themselves) and did not hit a nifshim error.
passed({ok, V}) -> not has_nifshim_error(V);
passed(_) -> false.

has_nifshim_error({nifshim, K, _}) when is_atom(K) -> true;
has_nifshim_error(T) when is_tuple(T) -> has_nifshim_error(tuple_to_list(T));
has_nifshim_error([H | T]) -> has_nifshim_error(H) orelse has_nifshim_error(T);
has_nifshim_error(M) when is_map(M) -> has_nifshim_error(maps:to_list(M));
has_nifshim_error(_) -> false.

fmt(T) ->
    S = lists:flatten(io_lib:format("~0tp", [T])),
    case length(S) > 2000 of
        true -> lists:sublist(S, 2000) ++ "...";
        false -> S
    end.

bin(S) -> unicode:characters_to_binary(S).

json_obj(KVs) ->
    [${, lists:join($,, [[json_str(K), $:, json_val(V)] || {K, V} <- KVs]), $}].

json_val(true) -> <<"true">>;
json_val(false) -> <<"false">>;
json_val(N) when is_integer(N) -> integer_to_binary(N);
json_val({str, S}) -> json_str(S);
json_val({list, L}) -> [$[, lists:join($,, L), $]];
json_val(IoData) -> IoData.

json_str(B) ->
    [$", [esc(C) || C <- unicode:characters_to_list(B)], $"].

esc($") -> "\\\"";
esc($\\) -> "\\\\";
esc(C) when C < 32 -> io_lib:format("\\u~4.16.0b", [C]);
esc(C) -> unicode:characters_to_binary([C]).

to_atom(A) when is_atom(A) -> A;
to_atom(S) when is_list(S) -> list_to_atom(S);
to_atom(B) when is_binary(B) -> binary_to_atom(B).

to_list(S) when is_list(S) -> S;
to_list(B) when is_binary(B) -> binary_to_list(B);
to_list(A) when is_atom(A) -> atom_to_list(A).
