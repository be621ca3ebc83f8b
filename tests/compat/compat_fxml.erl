-module(compat_fxml).
-export([cases/0]).
-import(compat_util, [t/1, digest/1, par/3]).

-record(xmlel, {name = <<"">>, attrs = [], children = []}).

el(I) ->
    #xmlel{name = <<"message">>,
           attrs = [{<<"to">>, <<"u", (integer_to_binary(I))/binary, "@example.com">>},
                    {<<"type">>, <<"chat">>}, {<<"q">>, <<"a'b\"c<&>">>}],
           children = [#xmlel{name = <<"body">>, children = [{xmlcdata, <<"hello <world> & \xc3\xa9">>}]},
                       #xmlel{name = <<"x">>, attrs = [{<<"xmlns">>, <<"jabber:x:data">>}]}]}.

stream(Data, Opts) ->
    S0 = fxml_stream:new(self(), infinity, Opts),
    S = lists:foldl(fun(D, S1) -> fxml_stream:parse(S1, D) end, S0, Data),
    fxml_stream:close(S),
    compat_util:flush().

cases() ->
    [{parse_element, fun() -> fxml_stream:parse_element(<<"<a x='1' y=\"&lt;\"><b>hi</b><c/>text</a>">>) end},
     {parse_element_error, fun() -> fxml_stream:parse_element(<<"<a><b></a>">>) end},
     {parse_element_bad_utf8, fun() -> fxml_stream:parse_element(<<"<a>\xff\xfe</a>">>) end},
     {parse_element_badarg, fun() -> t(fun() -> fxml_stream:parse_element(not_a_binary) end) end},
     {element_to_binary, fun() -> fxml:element_to_binary(el(1)) end},
     {element_to_header, fun() -> fxml:element_to_header(el(2)) end},
     {crypt, fun() -> fxml:crypt(<<"a<b>&'\" \xc3\xa9">>) end},
     {roundtrip, fun() ->
         E = el(3),
         fxml_stream:parse_element(fxml:element_to_binary(E)) =:= E
     end},
     {accessors, fun() ->
         E = el(4),
         {fxml:get_attr_s(<<"to">>, E#xmlel.attrs), fxml:get_tag_attr(<<"type">>, E),
          fxml:get_subtag(E, <<"body">>), fxml:get_path_s(E, [{elem, <<"body">>}, cdata]),
          fxml:get_subtag_with_xmlns(E, <<"x">>, <<"jabber:x:data">>),
          fxml:remove_subtags(E, <<"x">>, {<<"xmlns">>, <<"jabber:x:data">>})}
     end},
     {element_to_binary_badarg, fun() -> t(fun() -> fxml:element_to_binary({xmlel, 1, 2, 3}) end) end},
     {stream_events, fun() ->
         stream([<<"<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='x'>">>,
                 <<"<message to='a'><body>hi</bo">>, <<"dy></message><iq/>">>,
                 <<"</stream:stream>">>], [])
     end},
     {stream_error, fun() -> stream([<<"<s><a></b></s>">>], []) end},
     {stream_maxsize, fun() ->
         S0 = fxml_stream:new(self(), 100),
         S = fxml_stream:parse(S0, <<"<s><a>", (binary:copy(<<"x">>, 500))/binary, "</a></s>">>),
         fxml_stream:close(S),
         compat_util:flush()
     end},
     {stream_reset_and_callback, fun() ->
         Parent = self(),
         Other = spawn(fun() -> receive {go} -> Parent ! {got, compat_util:flush(200)} end end),
         S0 = fxml_stream:new(self()),
         S1 = fxml_stream:parse(S0, <<"<s><a/>">>),
         S2 = fxml_stream:reset(S1),
         S3 = fxml_stream:change_callback_pid(S2, Other),
         S4 = fxml_stream:parse(S3, <<"<t><b/></t>">>),
         fxml_stream:close(S4),
         Mine = compat_util:flush(),
         Other ! {go},
         Theirs = receive {got, L} -> L after 5000 -> timeout end,
         {Mine, Theirs}
     end},
     {big_stream, fun() ->
         %% ~3 MB of XML in one parse call, and in 64 KiB chunks
         Body = iolist_to_binary([fxml:element_to_binary(el(I)) || I <- lists:seq(1, 12000)]),
         Doc = <<"<stream>", Body/binary, "</stream>">>,
         Ev1 = stream([Doc], []),
         Chunks = [binary:part(Doc, O, min(65536, byte_size(Doc) - O))
                   || O <- lists:seq(0, byte_size(Doc) - 1, 65536)],
         Ev2 = stream(Chunks, []),
         {byte_size(Doc), length(Ev1), digest(Ev1), Ev1 =:= Ev2}
     end},
     {big_element, fun() ->
         E = #xmlel{name = <<"big">>, children = [{xmlcdata, binary:copy(<<"abc&<>">>, 500000)}]},
         B = fxml:element_to_binary(E),
         {byte_size(B), fxml_stream:parse_element(B) =:= E}
     end},
     {bulk_streams_50k, fun() ->
         N = lists:foldl(fun(I, Acc) ->
                                 S = fxml_stream:new(self()),
                                 S1 = fxml_stream:parse(S, <<"<s><m i='", (integer_to_binary(I))/binary, "'/>">>),
                                 _ = S1,
                                 Acc + length(compat_util:flush())
                         end, 0, lists:seq(1, 50000)),
         erlang:garbage_collect(),
         N
     end},
     {concurrent_16x200, fun() ->
         par(16, 200, fun(P, I) ->
                              E = el(P * 1000 + I),
                              B = fxml:element_to_binary(E),
                              {fxml_stream:parse_element(B) =:= E, erlang:md5(B)}
                      end)
     end},
     {concurrent_streams, fun() ->
         par(8, 50, fun(P, I) ->
                            stream([<<"<s>">>, fxml:element_to_binary(el(P * 100 + I)), <<"</s>">>], [])
                    end)
     end}].
