-module(compat_ezlib).
-export([cases/0]).
-import(compat_util, [t/1, digest/1, par/3]).

start() -> ok = compat_util:start([ezlib]).

roundtrip(Data) ->
    C = ezlib:new(), D = ezlib:new(),
    {ok, Z} = ezlib:compress(C, Data),
    {ok, Back} = ezlib:decompress(D, Z),
    {byte_size(Z), Back =:= iolist_to_binary(Data)}.

cases() ->
    [{start, fun() -> compat_util:start([ezlib]) end},
     {compress_known, fun() -> start(), ezlib:compress(ezlib:new(), <<"hello hello hello">>) end},
     {roundtrip_small, fun() -> start(), roundtrip(<<"The quick brown fox jumps over the lazy dog">>) end},
     {compress_iolist, fun() -> start(), t(fun() -> roundtrip([<<"ab">>, "cd", [<<"ef">>]]) end) end},
     {new3, fun() ->
         start(),
         [t(fun() ->
                    C = ezlib:new(L, W, M),
                    {ok, Z} = ezlib:compress(C, binary:copy(<<"abc">>, 1000)),
                    {byte_size(Z), digest(Z)}
            end) || {L, W, M} <- [{9, 15, 9}, {1, -15, 8}, {6, 31, 8}, {1, 9, 1}, {0, 15, 8}]]
     end},
     {new3_bad, fun() -> start(), t(fun() -> ezlib:new(1, 2, 3) end) end},
     {decompress_garbage, fun() -> start(), ezlib:decompress(ezlib:new(), <<"this is not zlib">>) end},
     {badarg, fun() -> start(), [t(fun() -> ezlib:compress(not_a_stream, <<"x">>) end),
                                 t(fun() -> ezlib:compress(ezlib:new(), 42) end)] end},
     {streaming, fun() ->
         %% one stream, many chunks: both sides keep state between calls
         start(),
         C = ezlib:new(), D = ezlib:new(),
         R = [begin
                  Chunk = binary:copy(<<I:16>>, 100 + I),
                  {ok, Z} = ezlib:compress(C, Chunk),
                  {ok, Back} = ezlib:decompress(D, Z),
                  {byte_size(Z), Back =:= Chunk}
              end || I <- lists:seq(1, 500)],
         digest(R)
     end},
     {big_8mb, fun() ->
         start(),
         B = compat_util:big_binary(8 * 1024 * 1024),
         T = binary:copy(<<"compressible text 0123456789 ">>, 200000),
         {roundtrip(B), roundtrip(T)}
     end},
     {bulk_5k_streams, fun() ->
         %% each stream is a resource with ~300 KB of zlib state: GC as we go
         start(),
         N = lists:foldl(fun(I, Acc) ->
                                 C = ezlib:new(),
                                 {ok, Z} = ezlib:compress(C, <<"x", I:32>>),
                                 case I rem 500 of 0 -> erlang:garbage_collect(); _ -> ok end,
                                 Acc + byte_size(Z)
                         end, 0, lists:seq(1, 5000)),
         erlang:garbage_collect(),
         N
     end},
     {socket_wrapper, fun() ->
         %% enable_zlib over a loopback TCP pair: send compressed, receive decompressed
         start(),
         {ok, L} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}]),
         {ok, P} = inet:port(L),
         {ok, A} = gen_tcp:connect({127, 0, 0, 1}, P, [binary, {active, false}]),
         {ok, B} = gen_tcp:accept(L),
         {ok, ZA} = ezlib:enable_zlib(gen_tcp, A),
         {ok, ZB} = ezlib:enable_zlib(gen_tcp, B),
         Msg = binary:copy(<<"zlib over tcp ">>, 1000),
         ok = ezlib:send(ZA, Msg),
         Got = recv_all(ZB, byte_size(Msg), <<>>),
         ezlib:close(ZA), ezlib:close(ZB), gen_tcp:close(L),
         Got =:= Msg
     end},
     {concurrent_16x200, fun() ->
         start(),
         par(16, 200, fun(P, I) -> roundtrip(binary:copy(<<P:8, I:16>>, 50 + I)) end)
     end}].

recv_all(_, N, Acc) when byte_size(Acc) >= N -> Acc;
recv_all(Z, N, Acc) ->
    case ezlib:recv(Z, 0, 5000) of
        {ok, D} -> recv_all(Z, N, <<Acc/binary, D/binary>>);
        E -> E
    end.
