-module(compat_xmpp).
-export([cases/0]).
-import(compat_util, [t/1, digest/1, par/3]).

start() -> ok = compat_util:start([xmpp]).

cases() ->
    [{start, fun() -> compat_util:start([xmpp]) end},
     {jid_decode, fun() -> start(), [t(fun() -> jid:decode(X) end) || X <- [<<"User@Example.com/Res">>, <<"example.com">>, <<"a@b">>, <<"@@">>, <<"a@/r">>, <<"ÄÖ@Straße.de/ü"/utf8>>]] end},
     {jid_encode, fun() -> start(), [jid:encode(jid:make(<<"u">>, <<"s">>, <<"r">>)), jid:encode({<<"u">>, <<"s">>, <<>>})] end},
     {jid_make, fun() -> start(), [jid:make(<<"User">>, <<"HOST">>, <<"R">>), jid:make(<<"a@b">>, <<"h">>, <<>>), jid:make(<<"h.org">>)] end},
     {jid_split, fun() -> start(), [jid:split(jid:decode(<<"u@h/r">>)), jid:string_to_usr(<<"u@h/r/x">>)] end},
     {jid_prep, fun() -> start(), [t(fun() -> jid:nodeprep(<<"User">>) end), t(fun() -> jid:nameprep(<<"EXAMPLE.ORG">>) end), t(fun() -> jid:resourceprep(<<"Res ">>) end), t(fun() -> jid:tolower(<<"MiXeD">>) end), t(fun() -> jid:nodeprep(<<"a b">>) end)] end},
     {jid_is_nodename, fun() -> start(), [jid:is_nodename(X) || X <- [<<"user">>, <<"us er">>, <<"u@">>, <<>>]] end},
     {jid_resource, fun() -> start(), J = jid:decode(<<"u@h/r">>), {jid:remove_resource(J), jid:replace_resource(J, <<"new">>)} end},
     {xmpp_lang, fun() -> start(), [xmpp_lang:is_valid(X) || X <- [<<"en">>, <<"en-US">>, <<"zh-Hant-TW">>, <<"!!">>, <<"en--US">>, <<>>]] end},
     {xmpp_lang_check, fun() -> start(), [t(fun() -> xmpp_lang:check(X) end) || X <- [<<"de-CH">>, <<"1234567890">>]] end},
     {xmpp_uri, fun() -> start(), [xmpp_uri:is_valid(X) || X <- [<<"http://example.org/">>, <<"xmpp:user@host?message">>, <<"::">>, <<"urn:ietf:params:xml:ns:xmpp-stanzas">>, <<>>]] end},
     {xmpp_uri_check, fun() -> start(), [t(fun() -> xmpp_uri:check(X) end) || X <- [<<"https://a.b/c?d#e">>, <<"::">>]] end},
     {badarg, fun() -> start(), [t(fun() -> jid:decode(42) end), t(fun() -> xmpp_lang:is_valid(42) end), t(fun() -> xmpp_uri:is_valid(foo) end)] end},
     {long_jid, fun() ->
         start(),
         {t(fun() -> jid:decode(<<(binary:copy(<<"u">>, 2000000))/binary, "@h">>) end) =/= ok,
          byte_size(jid:encode(jid:make(<<"u">>, <<"h">>, binary:copy(<<"r">>, 1023)))),
          xmpp_uri:is_valid(<<"http://h/", (binary:copy(<<"p">>, 1000000))/binary>>)}
     end},
     {bulk_50k, fun() ->
         start(),
         digest([jid:decode(<<"User", (integer_to_binary(I))/binary, "@Host/R">>) || I <- lists:seq(1, 50000)])
     end},
     {concurrent_16x200, fun() ->
         start(),
         par(16, 200, fun(P, I) ->
                              S = <<"U", (integer_to_binary(P))/binary, "@H", (integer_to_binary(I))/binary, "/r">>,
                              {jid:encode(jid:decode(S)), xmpp_lang:is_valid(<<"en-US">>),
                               xmpp_uri:is_valid(<<"http://h/", S/binary>>)}
                      end)
     end}].
