-module(compat_asn1).
-export([cases/0]).
-import(compat_util, [t/1, digest/1, par/3]).

spec() -> <<"T DEFINITIONS AUTOMATIC TAGS ::= BEGIN\n"
            "Rec ::= SEQUENCE { id INTEGER, name OCTET STRING, flags SEQUENCE OF BOOLEAN,"
            " opt IA5String OPTIONAL, kids SEQUENCE OF Rec }\n"
            "END\n">>.

%% Compile the spec with the BER back end (whose decoder is asn1rt_nif) into a
%% fresh /tmp dir, load it as module 'T'-like name compat_asn1_T.
with_ber(F) ->
    D = compat_util:tmpdir("asn1"),
    try
        Src = filename:join(D, "CompatT.asn"),
        ok = file:write_file(Src, binary:replace(spec(), <<"T DEFINITIONS">>, <<"CompatT DEFINITIONS">>)),
        ok = asn1ct:compile(Src, [ber, {outdir, D}, {i, D}]),
        code:add_patha(D),
        {module, 'CompatT'} = code:load_abs(filename:join(D, "CompatT")),
        F('CompatT')
    after compat_util:rm_rf(D)
    end.

rec(I, 0) -> {'Rec', I, <<"name", I:32>>, [I rem 2 =:= 0, true], asn1_NOVALUE, []};
rec(I, Depth) -> {'Rec', I, <<"n", I:16>>, [false], "opt", [rec(I * 10 + K, Depth - 1) || K <- [1, 2, 3]]}.

cases() ->
    [{encode_ber_tlv, fun() -> [asn1rt_nif:encode_ber_tlv(X) || X <- [{4, <<"abc">>}, {16#30, [{2, <<1>>}, {4, <<>>}]}, {16#1F1234, <<"hi">>}]] end},
     {decode_ber_tlv, fun() -> [t(fun() -> asn1rt_nif:decode_ber_tlv(X) end) || X <- [<<4, 3, "abc">>, <<48, 6, 2, 1, 1, 4, 1, $x, "rest">>, <<4, 9, "abc">>, <<>>, <<31, 255, 255, 255, 255, 255>>]] end},
     {encode_per_complete, fun() -> [t(fun() -> asn1rt_nif:encode_per_complete(X) end) || X <- [[], [<<1:1>>], [{bad}]]] end},
     {badarg, fun() -> [t(fun() -> asn1rt_nif:decode_ber_tlv(42) end), t(fun() -> asn1rt_nif:encode_ber_tlv(not_tlv) end)] end},
     {big_tlv, fun() ->
         B = compat_util:big_binary(4 * 1024 * 1024),
         E = asn1rt_nif:encode_ber_tlv({4, B}),
         {{4, B2}, Rest} = asn1rt_nif:decode_ber_tlv(E),
         {byte_size(E), B2 =:= B, Rest}
     end},
     {compiled_ber_roundtrip, fun() ->
         with_ber(fun(M) ->
             R = rec(1, 5),
             {ok, E} = M:encode('Rec', R),
             {ok, R2} = M:decode('Rec', E),
             Bad = t(fun() -> M:decode('Rec', <<48, 200, 1>>) end),
             {byte_size(E), digest(E), R2 =:= R, element(1, Bad)}
         end)
     end},
     {bulk_50k, fun() ->
         digest([asn1rt_nif:decode_ber_tlv(asn1rt_nif:encode_ber_tlv({4, <<I:32>>})) || I <- lists:seq(1, 50000)])
     end},
     {concurrent_16x200, fun() ->
         par(16, 200, fun(P, I) ->
                              E = asn1rt_nif:encode_ber_tlv({16#30, [{2, <<P>>}, {4, <<I:16>>}]}),
                              asn1rt_nif:decode_ber_tlv(E)
                      end)
     end}].
