-module(compat_jiffy).
-export([cases/0]).
-import(compat_util, [t/1, digest/1, par/3]).

doc(I) ->
    {[{<<"id">>, I}, {<<"name">>, <<"item-", (integer_to_binary(I))/binary>>},
      {<<"price">>, I * 1.25}, {<<"tags">>, [<<"a">>, <<"b\"\\\n">>, null, true, false]},
      {<<"nested">>, {[{<<"k">>, [1, 2, [3, {[]}]]}, {<<"u">>, <<"h\xc3\xa9 \xe2\x82\xac">>}]}}]}.

big_doc(N) -> [doc(I) || I <- lists:seq(1, N)].

cases() ->
    [{decode_basic, fun() -> jiffy:decode(<<"{\"a\":[1,2.5,-3e10,null,true,false,\"x\\u00e9\"],\"b\":{}}">>) end},
     {decode_maps, fun() -> jiffy:decode(<<"{\"a\":{\"b\":[1,{\"c\":null}]}}">>, [return_maps]) end},
     {decode_null_term, fun() -> jiffy:decode(<<"[null,1]">>, [{null_term, nil}]) end},
     {decode_bigint, fun() -> jiffy:decode(<<"[123456789012345678901234567890,-98765432109876543210]">>) end},
     {decode_floats, fun() -> jiffy:decode(<<"[0.1,1e308,-2.5e-300,3.14159265358979]">>) end},
     {encode_basic, fun() -> jiffy:encode({[{a, [1, 2.5, null, true, <<"x\"y">>]}, {<<"b">>, {[]}}]}) end},
     {encode_pretty, fun() -> jiffy:encode({[{a, [1, {[{b, 2}]}]}]}, [pretty]) end},
     {encode_map, fun() -> jiffy:encode(#{<<"k">> => [1, 2, 3]}) end},
     {encode_unicode_escape, fun() -> jiffy:encode(<<"h\xc3\xa9 \xe2\x82\xac">>, [uescape]) end},
     {encode_float, fun() -> jiffy:encode([0.1, 1.0e300, -0.0, 1/3]) end},
     {roundtrip, fun() -> D = big_doc(50), D =:= jiffy:decode(jiffy:encode(D)) end},
     {err_truncated, fun() -> t(fun() -> jiffy:decode(<<"{\"a\":">>) end) end},
     {err_invalid, fun() -> t(fun() -> jiffy:decode(<<"[1,,2]">>) end) end},
     {err_trailing, fun() -> t(fun() -> jiffy:decode(<<"[1] x">>) end) end},
     {err_bad_utf8, fun() -> t(fun() -> jiffy:decode(<<"[\"\xff\xfe\"]">>) end) end},
     {err_encode_badarg, fun() -> t(fun() -> jiffy:encode({bad, self_ref}) end) end},
     {err_encode_pid, fun() -> case t(fun() -> jiffy:encode([self()]) end) of
                                   {caught, C, {invalid_ejson, _}} -> {caught, C, invalid_ejson};
                                   Other -> Other
                               end end},
     {err_decode_not_binary, fun() -> t(fun() -> jiffy:decode(42) end) end},
     {big_decode_encode, fun() ->
         %% ~2.5 MB of JSON: jiffy yields (enif_consume_timeslice / rescheduling) on it
         D = big_doc(16000),
         J = iolist_to_binary(jiffy:encode(D)),
         D2 = jiffy:decode(J),
         {byte_size(J), digest(J), D2 =:= D}
     end},
     {big_string, fun() ->
         S = binary:copy(<<"abcdefgh\\n">>, 400000),
         J = <<"[\"", S/binary, "\"]">>,
         [V] = jiffy:decode(J),
         {byte_size(V), digest(V), byte_size(iolist_to_binary(jiffy:encode([V])))}
     end},
     {bulk_50k, fun() ->
         %% each call makes a decoder/encoder resource; drop them all, then GC
         R = lists:foldl(fun(I, Acc) ->
                                 B = iolist_to_binary(jiffy:encode([I, <<"v">>])),
                                 [I, <<"v">>] = jiffy:decode(B),
                                 Acc + byte_size(B)
                         end, 0, lists:seq(1, 50000)),
         erlang:garbage_collect(),
         R
     end},
     {concurrent_16x200, fun() ->
         par(16, 200, fun(P, I) ->
                              D = doc(P * 1000 + I),
                              jiffy:decode(iolist_to_binary(jiffy:encode(D)), [return_maps])
                      end)
     end},
     {concurrent_big, fun() ->
         par(2, 2, fun(P, I) ->
                           J = iolist_to_binary(jiffy:encode(big_doc(1000 + P * 100 + I))),
                           {byte_size(J), length(jiffy:decode(J))}
                   end)
     end}].
