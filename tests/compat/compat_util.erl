%% Helpers shared by the compat_<lib> case modules (nifshim compatibility matrix).
%% Everything here is pure Erlang (no NIFs), so it never pollutes the isolation check.
-module(compat_util).
-export([t/1, digest/1, pmap/2, par/3, flush/0, flush/1, tmpdir/1, rm_rf/1,
         big_binary/1, start/1]).

%% Run F, turning an exception into {caught, Class, Reason} (no stacktrace:
%% it would carry line numbers of this test code, not of the library).
t(F) ->
    try F() catch C:R -> {caught, C, strip(R)} end.

strip({nifshim, _, _} = R) -> R;
strip(R) -> R.

%% A short deterministic fingerprint of any term (no NIF involved).
digest(T) -> binary:encode_hex(erlang:md5(term_to_binary(T, [{minor_version, 2}]))).

%% Run F(I) for I in 1..N, each in its own process; results in order of I.
pmap(N, F) ->
    Parent = self(),
    Ms = [begin
              {P, M} = spawn_monitor(fun() -> Parent ! {self(), I, t(fun() -> F(I) end)} end),
              {P, M, I}
          end || I <- lists:seq(1, N)],
    [receive
         {P, I, R} -> erlang:demonitor(M, [flush]), R;
         {'DOWN', M, process, P, Why} -> {died, Why}
     after 120000 -> timeout
     end || {P, M, I} <- Ms].

%% N processes x Iters iterations of F(Proc, Iter); each process returns the
%% digest of its results, the summary is the list of digests (deterministic).
par(N, Iters, F) ->
    pmap(N, fun(P) -> digest([F(P, I) || I <- lists:seq(1, Iters)]) end).

flush() -> flush(0).
flush(Timeout) ->
    receive M -> [M | flush(Timeout)] after Timeout -> [] end.

%% A fresh directory /tmp/nifshim-compat-<Name>-<ospid>-<unique>.
tmpdir(Name) ->
    D = lists:flatten(io_lib:format("/tmp/nifshim-compat-~s-~s-~b",
                                    [Name, os:getpid(), erlang:unique_integer([positive])])),
    ok = filelib:ensure_dir(filename:join(D, "x")),
    D.

rm_rf(D) -> file:del_dir_r(D).

%% A deterministic pseudo-random binary of N bytes (xorshift, pure Erlang),
%% built by repeating a 64 KiB block with a varying prefix per block.
big_binary(N) ->
    Block = block(65536),
    Blocks = N div 65536,
    Rest = N rem 65536,
    iolist_to_binary([[<<I:32>>, binary:part(Block, 4, 65532)] || I <- lists:seq(1, Blocks)]
                     ++ [binary:part(Block, 0, Rest)]).

block(N) -> block(N div 8, 16#9E3779B97F4A7C15, []).
block(0, _, Acc) -> iolist_to_binary(Acc);
block(K, X0, Acc) ->
    X1 = X0 bxor ((X0 bsl 13) band 16#FFFFFFFFFFFFFFFF),
    X2 = X1 bxor (X1 bsr 7),
    X3 = X2 bxor ((X2 bsl 17) band 16#FFFFFFFFFFFFFFFF),
    block(K - 1, X3, [<<X3:64>> | Acc]).

%% application:ensure_all_started, returning only ok | {error, Reason}.
start(Apps) ->
    lists:foldl(fun(A, ok) ->
                        case application:ensure_all_started(A) of
                            {ok, _} -> ok;
                            E -> E
                        end;
                   (_, E) -> E
                end, ok, Apps).
