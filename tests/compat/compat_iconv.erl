-module(compat_iconv).
-export([cases/0]).
-import(compat_util, [t/1, digest/1, par/3]).

start() -> ok = compat_util:start([iconv]).

cases() ->
    [{start, fun() -> compat_util:start([iconv]) end},
     {utf8_to_latin1, fun() -> start(), iconv:convert(<<"utf-8">>, <<"iso-8859-1">>, <<"h\xc3\xa9llo \xc3\xbc">>) end},
     {latin1_to_utf8, fun() -> start(), iconv:convert("iso-8859-1", "utf-8", <<"h\xe9llo">>) end},
     {utf8_to_utf16, fun() -> start(), iconv:convert(<<"utf-8">>, <<"utf-16be">>, <<"a\xe2\x82\xac">>) end},
     {iodata_args, fun() -> start(), iconv:convert([<<"utf">>, "-8"], "koi8-r", [<<"\xd0\x9f">>, [<<"\xd1\x80">>]]) end},
     {unknown_charset, fun() -> start(), iconv:convert(<<"bogus-charset">>, <<"utf-8">>, <<"x">>) end},
     {invalid_sequence, fun() -> start(), iconv:convert(<<"utf-8">>, <<"ascii">>, <<"h\xc3\xa9!">>) end},
     {truncated_sequence, fun() -> start(), iconv:convert(<<"utf-8">>, <<"utf-16le">>, <<"ab\xe2\x82">>) end},
     {badarg, fun() -> start(), [t(fun() -> iconv:convert(X, <<"utf-8">>, <<"x">>) end) || X <- [42, self_atom]] end},
     {empty, fun() -> start(), iconv:convert(<<"utf-8">>, <<"utf-32">>, <<>>) end},
     {big_roundtrip, fun() ->
         start(),
         S = binary:copy(<<"Gr\xc3\xbc\xc3\x9fe \xe2\x82\xac \xd0\x9f\xd1\x80\xd0\xb8 ">>, 200000),
         U16 = iconv:convert(<<"utf-8">>, <<"utf-16le">>, S),
         Back = iconv:convert(<<"utf-16le">>, <<"utf-8">>, U16),
         {byte_size(S), byte_size(U16), Back =:= S, digest(U16)}
     end},
     {bulk_50k, fun() ->
         start(),
         R = digest([iconv:convert(<<"utf-8">>, <<"iso-8859-15">>, <<"\xe2\x82\xac", I:16>>) || I <- lists:seq(1, 50000)]),
         erlang:garbage_collect(),
         R
     end},
     {concurrent_16x200, fun() ->
         start(),
         par(16, 200, fun(P, I) ->
                              iconv:convert(<<"utf-8">>, <<"utf-16">>, <<"p\xc3\xa9", P:8, I:16>>)
                      end)
     end}].
