-module(compat_mqtree).
-export([cases/0]).
-import(compat_util, [t/1, digest/1, par/3, pmap/2]).

filters() -> [<<"a/b/c">>, <<"a/+/c">>, <<"a/#">>, <<"#">>, <<"+/b/+">>, <<"x/y">>, <<"a/b/c/d">>].

cases() ->
    [{insert_match, fun() ->
         T = mqtree:new(),
         [mqtree:insert(T, F) || F <- filters()],
         {[{P, lists:sort(mqtree:match(T, P))} || P <- [<<"a/b/c">>, <<"x/y">>, <<"q">>, <<"a/b/c/d">>, <<"z/b/z">>]],
          mqtree:size(T), mqtree:is_empty(T)}
     end},
     {refc_delete, fun() ->
         T = mqtree:new(),
         mqtree:insert(T, <<"a/b">>), mqtree:insert(T, <<"a/b">>), mqtree:insert(T, <<"c">>),
         R1 = mqtree:refc(T, <<"a/b">>),
         mqtree:delete(T, <<"a/b">>),
         R2 = mqtree:refc(T, <<"a/b">>),
         mqtree:delete(T, <<"a/b">>),
         {R1, R2, mqtree:refc(T, <<"a/b">>), lists:sort(mqtree:to_list(T)), mqtree:size(T)}
     end},
     {clear, fun() ->
         T = mqtree:new(),
         [mqtree:insert(T, F) || F <- filters()],
         mqtree:clear(T),
         {mqtree:size(T), mqtree:is_empty(T), mqtree:to_list(T)}
     end},
     {dump, fun() -> T = mqtree:new(), [mqtree:insert(T, F) || F <- filters()], digest(lists:sort(mqtree:dump(T))) end},
     {register_whereis, fun() ->
         T = mqtree:new(),
         mqtree:insert(T, <<"r/s">>),
         R1 = t(fun() -> mqtree:register(compat_mqtree_tree, T) end),
         W = case mqtree:whereis(compat_mqtree_tree) of
                 undefined -> undefined;
                 T2 -> lists:sort(mqtree:to_list(T2))
             end,
         Reg = lists:member(compat_mqtree_tree, mqtree:registered()),
         R2 = t(fun() -> mqtree:register(compat_mqtree_tree, T) end),
         U = t(fun() -> mqtree:unregister(compat_mqtree_tree) end),
         {R1, W, Reg, R2, U, mqtree:whereis(compat_mqtree_tree)}
     end},
     {badarg, fun() ->
         T = mqtree:new(),
         [t(fun() -> mqtree:insert(T, 42) end), t(fun() -> mqtree:match(not_a_tree, <<"a">>) end),
          t(fun() -> mqtree:insert(T, <<"a/#/b">>) end), t(fun() -> mqtree:unregister(no_such_tree) end)]
     end},
     {big_tree, fun() ->
         T = mqtree:new(),
         [mqtree:insert(T, <<"t/", (integer_to_binary(I rem 100))/binary, "/", (integer_to_binary(I))/binary>>)
          || I <- lists:seq(1, 50000)],
         mqtree:insert(T, <<"t/7/#">>),
         M = lists:sort(mqtree:match(T, <<"t/7/1007">>)),
         L = mqtree:to_list(T),
         {mqtree:size(T), M, length(L), digest(lists:sort(L))}
     end},
     {long_topic, fun() ->
         T = mqtree:new(),
         %% (a 2 MB level segfaults natively (stack): keep 1000 levels, 100 KB level)
         Long = iolist_to_binary(lists:join(<<"/">>, [integer_to_binary(I) || I <- lists:seq(1, 1000)])),
         Wide = <<"w/", (binary:copy(<<"x">>, 100000))/binary>>,
         mqtree:insert(T, Long), mqtree:insert(T, Wide),
         {byte_size(Long), mqtree:match(T, Long) =:= [Long], mqtree:match(T, Wide) =:= [Wide], mqtree:size(T)}
     end},
     {bulk_50k_trees, fun() ->
         N = lists:foldl(fun(I, Acc) ->
                                 T = mqtree:new(),
                                 mqtree:insert(T, <<"a/", I:32>>),
                                 Acc + mqtree:size(T)
                         end, 0, lists:seq(1, 50000)),
         erlang:garbage_collect(),
         N
     end},
     {concurrent_shared_tree, fun() ->
         T = mqtree:new(),
         R = pmap(16, fun(P) ->
                          [mqtree:insert(T, <<"p/", (integer_to_binary(P))/binary, "/", (integer_to_binary(I))/binary>>)
                           || I <- lists:seq(1, 200)],
                          length(mqtree:match(T, <<"p/", (integer_to_binary(P))/binary, "/5">>))
                      end),
         {R, mqtree:size(T)}
     end},
     {concurrent_16x200, fun() ->
         par(16, 200, fun(P, I) ->
                              T = mqtree:new(),
                              mqtree:insert(T, <<"a/+/", P:8>>),
                              mqtree:insert(T, <<"#">>),
                              lists:sort(mqtree:match(T, <<"a/", I:16, "/", P:8>>))
                      end)
     end}].
