-module(compat_fast_yaml).
-export([cases/0]).
-import(compat_util, [t/1, digest/1, par/3]).

start() -> ok = compat_util:start([fast_yaml]).

big_yaml(N) ->
    iolist_to_binary([["- id: ", integer_to_list(I), "\n  name: \"item ", integer_to_list(I),
                       "\"\n  tags: [a, b, c]\n  nested:\n    x: 1.5\n    y: ~\n"]
                      || I <- lists:seq(1, N)]).

cases() ->
    [{decode, fun() -> start(), fast_yaml:decode(<<"a: 1\nb: [x, y]\nc: {d: 2.5}\ne: |\n  multi\n  line\n">>) end},
     {decode_opts, fun() -> start(), fast_yaml:decode(<<"a: 1\nb: [x, y]\n">>, [plain_as_atom, maps]) end},
     {decode_multi_doc, fun() -> start(), fast_yaml:decode(<<"---\na: 1\n---\n- 2\n- 3\n">>) end},
     {decode_anchors, fun() -> start(), fast_yaml:decode(<<"x: &A {k: v}\ny: *A\n">>) end},
     {decode_error, fun() -> start(), fast_yaml:decode(<<"a: [1\n">>) end},
     {decode_error2, fun() -> start(), fast_yaml:decode(<<"a: b: c\n">>) end},
     {format_error, fun() -> start(), {error, E} = fast_yaml:decode(<<"a: [1\n">>), iolist_to_binary(fast_yaml:format_error(E)) end},
     {encode, fun() -> start(), iolist_to_binary(fast_yaml:encode([{a, 1}, {b, [<<"x">>, 2.5]}, {c, [{d, <<"e">>}]}])) end},
     {roundtrip, fun() ->
         start(),
         {ok, [D]} = fast_yaml:decode(big_yaml(20)),
         E = iolist_to_binary(fast_yaml:encode(D)),
         {ok, [D2]} = fast_yaml:decode(E),
         {D =:= D2, digest(D)}
     end},
     {decode_from_file, fun() ->
         start(),
         Dir = compat_util:tmpdir("yaml"),
         try
             F = filename:join(Dir, "t.yml"),
             ok = file:write_file(F, <<"k: [1, 2, 3]\n">>),
             {fast_yaml:decode_from_file(F), fast_yaml:decode_from_file(filename:join(Dir, "missing.yml"))}
         after compat_util:rm_rf(Dir)
         end
     end},
     {badarg, fun() -> start(), t(fun() -> fast_yaml:decode(42) end) end},
     {big_decode, fun() ->
         start(),
         Y = big_yaml(25000),
         {ok, [D]} = fast_yaml:decode(Y),
         {byte_size(Y), length(D), digest(D)}
     end},
     {bulk_50k, fun() ->
         start(),
         digest([fast_yaml:decode(<<"k", (integer_to_binary(I))/binary, ": v">>) || I <- lists:seq(1, 50000)])
     end},
     {concurrent_16x200, fun() ->
         start(),
         par(16, 200, fun(P, I) ->
                              fast_yaml:decode(<<"a: ", (integer_to_binary(P))/binary, "\nb: [",
                                                 (integer_to_binary(I))/binary, ", x]\n">>)
                      end)
     end}].
