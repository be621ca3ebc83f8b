-module(compat_stringprep).
-export([cases/0]).
-import(compat_util, [t/1, digest/1, par/3]).

start() -> ok = compat_util:start([stringprep]).

cases() ->
    [{start, fun() -> compat_util:start([stringprep]) end},
     {nodeprep, fun() -> start(), [stringprep:nodeprep(X) || X <- [<<"User">>, <<"ÄÖÜ"/utf8>>, <<"a@b">>, <<"a b">>, <<>>, <<"\xef\xbc\xa1">>]] end},
     {nameprep, fun() -> start(), [stringprep:nameprep(X) || X <- [<<"EXAMPLE.com">>, <<"Straße.de"/utf8>>, <<"\xff">>, <<"a\x00b">>]] end},
     {resourceprep, fun() -> start(), [stringprep:resourceprep(X) || X <- [<<"Res/1">>, <<"  x">>, <<"\xe2\x80\x8b">>, <<"\xc2\xa0">>]] end},
     {tolower, fun() -> start(), [stringprep:tolower(X) || X <- [<<"ABC">>, <<"ÀÉÎ"/utf8>>, <<"\xff">>]] end},
     {tolower_nofilter, fun() -> start(), [stringprep:tolower_nofilter(X) || X <- [<<"ABC">>, <<"ΣΑΣ"/utf8>>]] end},
     {badarg, fun() -> start(), [t(fun() -> stringprep:nodeprep(X) end) || X <- [42, "list", self_atom]] end},
     {long_input, fun() ->
         start(),
         L = binary:copy(<<"AbC\xc3\x89">>, 200000),
         R = stringprep:tolower(L),
         N = stringprep:nodeprep(binary:copy(<<"Ab">>, 100000)),
         {byte_size(L), digest(R), digest(N)}
     end},
     {bulk_50k, fun() ->
         start(),
         digest([stringprep:nodeprep(<<"User", (integer_to_binary(I))/binary>>) || I <- lists:seq(1, 50000)])
     end},
     {concurrent_16x200, fun() ->
         start(),
         par(16, 200, fun(P, I) ->
                              S = <<"Us\xc3\x89r", (integer_to_binary(P * 1000 + I))/binary>>,
                              {stringprep:nodeprep(S), stringprep:nameprep(S), stringprep:resourceprep(S)}
                      end)
     end}].
