-module(compat_bitcask).
-export([cases/0]).
-import(compat_util, [t/1, digest/1, pmap/2]).

with_db(Opts, F) ->
    D = compat_util:tmpdir("bitcask"),
    try
        B = bitcask:open(D, Opts),
        try F(B, D) after catch bitcask:close(B) end
    after
        compat_util:rm_rf(D)
    end.

key(I) -> <<"key-", (integer_to_binary(I))/binary>>.
val(I) -> binary:copy(<<(I rem 251)>>, 10 + I rem 100).

cases() ->
    [{put_get_delete, fun() ->
         with_db([read_write], fun(B, _) ->
             ok = bitcask:put(B, <<"k">>, <<"v">>),
             G1 = bitcask:get(B, <<"k">>),
             ok = bitcask:put(B, <<"k">>, <<"v2">>),
             G2 = bitcask:get(B, <<"k">>),
             ok = bitcask:delete(B, <<"k">>),
             {G1, G2, bitcask:get(B, <<"k">>), bitcask:get(B, <<"nope">>)}
         end)
     end},
     {many_keys_fold, fun() ->
         with_db([read_write], fun(B, _) ->
             [ok = bitcask:put(B, key(I), val(I)) || I <- lists:seq(1, 5000)],
             [ok = bitcask:delete(B, key(I)) || I <- lists:seq(1, 5000, 7)],
             Keys = lists:sort(bitcask:list_keys(B)),
             Sum = bitcask:fold(B, fun(K, V, Acc) -> [{K, erlang:md5(V)} | Acc] end, []),
             FK = bitcask:fold_keys(B, fun(_, Acc) -> Acc + 1 end, 0),
             {length(Keys), digest(Keys), digest(lists:sort(Sum)), FK,
              bitcask:is_empty_estimate(B)}
         end)
     end},
     {reopen_persistence, fun() ->
         D = compat_util:tmpdir("bitcask"),
         try
             B1 = bitcask:open(D, [read_write]),
             [ok = bitcask:put(B1, key(I), val(I)) || I <- lists:seq(1, 1000)],
             ok = bitcask:sync(B1),
             ok = bitcask:close(B1),
             B2 = bitcask:open(D, []),
             R = [bitcask:get(B2, key(I)) =:= {ok, val(I)} || I <- lists:seq(1, 1000)],
             N = length(bitcask:list_keys(B2)),
             ok = bitcask:close(B2),
             {lists:usort(R), N}
         after compat_util:rm_rf(D)
         end
     end},
     {big_values, fun() ->
         with_db([read_write], fun(B, _) ->
             V = compat_util:big_binary(3 * 1024 * 1024),
             [ok = bitcask:put(B, key(I), V) || I <- lists:seq(1, 4)],
             {ok, V2} = bitcask:get(B, key(3)),
             {byte_size(V2), V2 =:= V}
         end)
     end},
     {merge, fun() ->
         with_db([read_write, {max_file_size, 65536}], fun(B, D) ->
             [ok = bitcask:put(B, key(I rem 300), val(I)) || I <- lists:seq(1, 6000)],
             ok = bitcask:close(B),
             M = t(fun() -> bitcask:merge(D) end),
             B2 = bitcask:open(D, []),
             R = lists:usort([bitcask:get(B2, key(I rem 300)) =:= {ok, val(I)}
                              || I <- lists:seq(5701, 6000)]),
             N = length(bitcask:list_keys(B2)),
             bitcask:close(B2),
             {M, R, N}
         end)
     end},
     {iterator, fun() ->
         with_db([read_write], fun(B, _) ->
             [ok = bitcask:put(B, key(I), val(I)) || I <- lists:seq(1, 200)],
             R = t(fun() ->
                           bitcask:iterator(B, 0, 0),
                           L = iter(B, []),
                           bitcask:iterator_release(B),
                           length(L)
                   end),
             R
         end)
     end},
     {bad_dir, fun() -> t(fun() -> bitcask:open("/proc/nonexistent/bitcask", [read_write]) end) end},
     {get_readonly_missing, fun() ->
         D = compat_util:tmpdir("bitcask"),
         try B = bitcask:open(D, []),
             R = bitcask:get(B, <<"x">>),
             bitcask:close(B), R
         after compat_util:rm_rf(D)
         end
     end},
     {bulk_open_close, fun() ->
         %% keydir resources created and dropped
         D = compat_util:tmpdir("bitcask"),
         try
             R = [begin
                      B = bitcask:open(D, [read_write]),
                      ok = bitcask:put(B, key(I), val(I)),
                      ok = bitcask:close(B),
                      ok
                  end || I <- lists:seq(1, 20)],
             erlang:garbage_collect(),
             B2 = bitcask:open(D, []),
             N = length(bitcask:list_keys(B2)),
             bitcask:close(B2),
             {length(R), N}
         after compat_util:rm_rf(D)
         end
     end},
     {concurrent_dbs, fun() ->
         pmap(8, fun(P) ->
             with_db([read_write], fun(B, _) ->
                 [ok = bitcask:put(B, key(P * 1000 + I), val(I)) || I <- lists:seq(1, 200)],
                 L = [bitcask:get(B, key(P * 1000 + I)) || I <- lists:seq(1, 200)],
                 digest(L)
             end)
         end)
     end},
     {concurrent_readers, fun() ->
         %% one writer fills the store; 16 processes each open it read-only
         D = compat_util:tmpdir("bitcask"),
         try
             B = bitcask:open(D, [read_write]),
             [ok = bitcask:put(B, key(I), val(I)) || I <- lists:seq(1, 500)],
             ok = bitcask:close(B),
             pmap(16, fun(P) ->
                          R = bitcask:open(D, []),
                          L = [bitcask:get(R, key((P * 37 + I) rem 500 + 1)) || I <- lists:seq(1, 200)],
                          bitcask:close(R),
                          digest(L)
                      end)
         after compat_util:rm_rf(D)
         end
     end}].

iter(B, Acc) ->
    case bitcask:iterator_next(B) of
        {_, _, _, _} = E -> iter(B, [E | Acc]);
        {_, _, _} = E -> iter(B, [E | Acc]);
        _ -> Acc
    end.
