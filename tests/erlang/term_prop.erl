%% Property test of the term functions (tests/nifs/term_prop_nif.c): random
%% terms -- nested, all types, bignums, floats, latin-1 and unicode atoms,
%% small, large and sub binaries, bitstrings, flat and large maps, improper
%% lists -- are copied through enif_get_*/enif_make_* and must come back
%% equal. The results are written for comparison across modes (native,
%% isolated with the direct path, isolated fully forwarded).
-module(term_prop).
-export([run/1, copy/1, identical/2, sub/3, gen/1, fixed/0]).
-on_load(init/0).

init() ->
    erlang:load_nif(filename:join(os:getenv("NIFSHIM_TEST_NIFS", "."), "term_prop_nif"), 0).

copy(_) -> erlang:nif_error(not_loaded).
identical(_, _) -> erlang:nif_error(not_loaded).
sub(_, _, _) -> erlang:nif_error(not_loaded).

run(OutFile) ->
    _ = rand:seed(exsss, {17, 42, 2026}),
    Terms = fixed() ++ [gen(rand:uniform(4)) || _ <- lists:seq(1, 3000)],
    Results = [{I, check(T)} || {I, T} <- lists:zip(lists:seq(1, length(Terms)), Terms)],
    ok = file:write_file(OutFile, term_to_binary(Results)),
    Bad = [I || {I, {false, _, _}} <- Results],
    io:format("cases=~p bad=~p~n", [length(Results), Bad]),
    halt(case Bad of [] -> 0; _ -> 1 end).

%% Equal copy, identical to itself, and a shape that does not depend on the
%% VM (pids, ports, references and funs differ between runs).
check(T) ->
    C = copy(T),
    {C =:= T andalso identical(T, C) =:= (T =:= C) andalso subs(T), identical(T, T), shape(C)}.

%% Sub binaries of binaries (and of sub binaries) hold the right bytes.
subs(B) when is_binary(B), byte_size(B) > 2 ->
    N = byte_size(B),
    S = sub(B, 1, N - 2),
    S =:= binary:part(B, 1, N - 2) andalso sub(S, 1, N - 3) =:= binary:part(B, 2, N - 3);
subs(_) -> true.

shape(T) when is_pid(T) -> pid;
shape(T) when is_port(T) -> port;
shape(T) when is_reference(T) -> ref;
shape(T) when is_function(T) -> 'fun';
shape(T) when is_list(T) -> shape_list(T);
shape(T) when is_tuple(T) -> list_to_tuple([shape(E) || E <- tuple_to_list(T)]);
shape(T) when is_map(T) -> maps:from_list([{shape(K), shape(V)} || {K, V} <- maps:to_list(T)]);
shape(T) when is_binary(T), byte_size(T) > 64 -> {binary, byte_size(T), erlang:crc32(T)};
shape(T) -> T.

shape_list([H | T]) -> [shape(H) | shape_list(T)];
shape_list([]) -> [];
shape_list(Tail) -> shape(Tail).

fixed() ->
    [0, 1, -1, 1 bsl 59 - 1, -(1 bsl 59), 1 bsl 59, -(1 bsl 59) - 1, 1 bsl 63, 1 bsl 64 - 1, 1 bsl 64,
     -(1 bsl 63), -(1 bsl 64), 1 bsl 200, 2147483647, -2147483648, 4294967295, 4294967296,
     0.0, -0.0, 1.5, -2.5e300, 1.0e-300, 3.141592653589793,
     a, '', 'héllo', 'ünïcödé', '日本語', list_to_atom(lists:duplicate(255, $x)),
     [], [a], [a | b], [1, 2 | 3], "string", [[[]]], lists:seq(1, 1000),
     {}, {a}, {a, b}, list_to_tuple(lists:seq(1, 100)),
     <<>>, <<1, 2, 3>>, binary:copy(<<"x">>, 100), binary:copy(<<"big">>, 400000),
     binary:part(binary:copy(<<"0123456789">>, 1000), 3, 5000), <<1:3>>, <<255, 1:1>>,
     #{}, #{a => 1}, maps:from_list([{I, I * I} || I <- lists:seq(1, 100)]),
     self(), make_ref(), fun() -> ok end, fun lists:map/2, hd(erlang:ports())].

gen(0) -> leaf();
gen(D) ->
    case rand:uniform(8) of
        1 -> [gen(D - 1) || _ <- lists:seq(1, rand:uniform(6) - 1)];
        2 -> list_to_tuple([gen(D - 1) || _ <- lists:seq(1, rand:uniform(6) - 1)]);
        3 -> maps:from_list([{gen(0), gen(D - 1)} || _ <- lists:seq(1, rand:uniform(5) - 1)]);
        4 -> [gen(D - 1) | gen(0)];  % often improper
        5 -> maps:from_list([{I, gen(0)} || I <- lists:seq(1, 40)]);  % a large (HAMT) map
        _ -> leaf()
    end.

leaf() ->
    case rand:uniform(12) of
        1 -> rand:uniform(1000) - 500;
        2 -> (rand:uniform(1 bsl 62) - (1 bsl 61)) * (1 bsl rand:uniform(70));  % bignums
        3 -> (rand:uniform() - 0.5) * math:pow(10, rand:uniform(600) - 300);
        4 -> list_to_atom([$a + rand:uniform(25) || _ <- lists:seq(1, rand:uniform(10))]);
        5 -> list_to_atom([16#e0 + rand:uniform(31) || _ <- lists:seq(1, 3)]);  % latin-1
        6 -> list_to_atom([16#3040 + rand:uniform(90) || _ <- lists:seq(1, 3)]);  % unicode
        7 -> rand:bytes(rand:uniform(100));
        8 -> rand:bytes(rand:uniform(200000));
        9 -> B = rand:bytes(1000), binary:part(B, rand:uniform(100), 500);
        10 -> <<(rand:uniform(255)), 5:3>>;
        11 -> [];
        _ -> self()
    end.
