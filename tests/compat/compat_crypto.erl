-module(compat_crypto).
-export([cases/0]).
-import(compat_util, [t/1, digest/1, par/3]).

key16() -> <<0:64, 1:64>>.
iv12() -> <<1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12>>.
iv16() -> <<16#0F:128>>.

cases() ->
    [{start, fun() -> compat_util:start([crypto]) end},
     {info, fun() -> {crypto:info_lib(), lists:sort(crypto:supports(hashs)), length(crypto:supports(ciphers)),
                      length(crypto:supports(curves)), crypto:info_fips()} end},
     {hash_known, fun() -> [{A, crypto:hash(A, <<"abc">>)} || A <- [md5, sha, sha224, sha256, sha384, sha512, sha3_256, blake2b, blake2s]] end},
     {hash_stream, fun() ->
         S0 = crypto:hash_init(sha256),
         S = lists:foldl(fun(I, S1) -> crypto:hash_update(S1, <<I:32>>) end, S0, lists:seq(1, 1000)),
         crypto:hash_final(S) =:= crypto:hash(sha256, [<<I:32>> || I <- lists:seq(1, 1000)])
     end},
     {mac, fun() -> [crypto:mac(hmac, sha256, <<"key">>, <<"The quick brown fox">>),
                     crypto:mac(cmac, aes_128_cbc, key16(), <<"data">>),
                     crypto:macN(hmac, sha, <<"k">>, <<"d">>, 8)] end},
     {aes_gcm, fun() ->
         {C, Tag} = crypto:crypto_one_time_aead(aes_128_gcm, key16(), iv12(), <<"secret message">>, <<"aad">>, true),
         P = crypto:crypto_one_time_aead(aes_128_gcm, key16(), iv12(), C, <<"aad">>, Tag, false),
         Bad = crypto:crypto_one_time_aead(aes_128_gcm, key16(), iv12(), C, <<"AAD">>, Tag, false),
         {C, Tag, P, Bad}
     end},
     {aes_cbc_stream, fun() ->
         E = crypto:crypto_init(aes_128_cbc, key16(), iv16(), [{encrypt, true}, {padding, pkcs_padding}]),
         C1 = crypto:crypto_update(E, <<"0123456789abcdef01234">>),
         C2 = crypto:crypto_final(E),
         C = <<C1/binary, C2/binary>>,
         D = crypto:crypto_init(aes_128_cbc, key16(), iv16(), [{encrypt, false}, {padding, pkcs_padding}]),
         P = <<(crypto:crypto_update(D, C))/binary, (crypto:crypto_final(D))/binary>>,
         {C, P}
     end},
     {chacha, fun() -> crypto:crypto_one_time(chacha20, <<0:256>>, <<0:128>>, <<"hello chacha">>, true) end},
     {pbkdf2, fun() -> crypto:pbkdf2_hmac(sha256, <<"password">>, <<"salt">>, 4096, 32) end},
     {mod_pow_exor, fun() -> {crypto:mod_pow(3, 1000, 1000007), crypto:exor(<<1, 2, 3>>, <<255, 255, 255>>),
                              crypto:bytes_to_integer(<<1, 0>>)} end},
     {keys_sign_verify, fun() ->
         %% random keys: only the deterministic properties are returned
         {Pub, Priv} = crypto:generate_key(ecdh, secp256r1),
         Sig = crypto:sign(ecdsa, sha256, <<"msg">>, [Priv, secp256r1]),
         V1 = crypto:verify(ecdsa, sha256, <<"msg">>, Sig, [Pub, secp256r1]),
         V2 = crypto:verify(ecdsa, sha256, <<"msh">>, Sig, [Pub, secp256r1]),
         {P2, K2} = crypto:generate_key(ecdh, secp256r1),
         Agree = crypto:compute_key(ecdh, P2, Priv, secp256r1) =:= crypto:compute_key(ecdh, Pub, K2, secp256r1),
         {EdPub, EdPriv} = crypto:generate_key(eddsa, ed25519),
         EdSig = crypto:sign(eddsa, none, <<"m">>, [EdPriv, ed25519]),
         {byte_size(Pub), V1, V2, Agree, crypto:verify(eddsa, none, <<"m">>, EdSig, [EdPub, ed25519])}
     end},
     {rsa, fun() ->
         {Pub, Priv} = crypto:generate_key(rsa, {1024, 65537}),
         C = crypto:public_encrypt(rsa, <<"hi">>, Pub, [{rsa_padding, rsa_pkcs1_oaep_padding}]),
         P = crypto:private_decrypt(rsa, C, Priv, [{rsa_padding, rsa_pkcs1_oaep_padding}]),
         S = crypto:sign(rsa, sha256, <<"m">>, Priv),
         {P, crypto:verify(rsa, sha256, <<"m">>, S, Pub), length(Priv)}
     end},
     {rand, fun() -> {byte_size(crypto:strong_rand_bytes(1000)), true,
                      byte_size(crypto:strong_rand_bytes(0))} end},
     {bad_inputs, fun() -> [t(fun() -> crypto:hash(nosuch, <<"x">>) end),
                            t(fun() -> crypto:hash(sha256, 42) end),
                            t(fun() -> crypto:mac(hmac, nosuch, <<"k">>, <<"d">>) end),
                            t(fun() -> crypto:crypto_one_time(aes_128_cbc, <<"shortkey">>, iv16(), <<"x">>, true) end),
                            t(fun() -> crypto:crypto_init(nosuch_cipher, key16(), iv16(), true) end),
                            t(fun() -> crypto:hash_update(not_a_state, <<"x">>) end),
                            t(fun() -> crypto:sign(rsa, sha256, <<"m">>, [1, 2]) end)] end},
     {hash_64mb, fun() ->
         %% big data goes to crypto's dirty NIFs
         B = compat_util:big_binary(64 * 1024 * 1024),
         {crypto:hash(sha256, B), crypto:hash(md5, B), crypto:mac(hmac, sha, <<"k">>, B)}
     end},
     {encrypt_16mb, fun() ->
         B = compat_util:big_binary(16 * 1024 * 1024),
         C = crypto:crypto_one_time(aes_256_ctr, <<0:256>>, iv16(), B, true),
         P = crypto:crypto_one_time(aes_256_ctr, <<0:256>>, iv16(), C, false),
         {crypto:hash(sha, C), P =:= B}
     end},
     {bulk_50k_states, fun() ->
         R = lists:foldl(fun(I, Acc) ->
                                 S = crypto:hash_update(crypto:hash_init(sha), <<I:32>>),
                                 crypto:exor(crypto:hash_final(S), Acc)
                         end, <<0:160>>, lists:seq(1, 50000)),
         erlang:garbage_collect(),
         R
     end},
     {bulk_50k_ciphers, fun() ->
         N = lists:foldl(fun(I, Acc) ->
                                 S = crypto:crypto_init(aes_128_ctr, key16(), <<I:128>>, true),
                                 Acc + byte_size(crypto:crypto_update(S, <<"x">>))
                         end, 0, lists:seq(1, 50000)),
         erlang:garbage_collect(),
         N
     end},
     {concurrent_16x200, fun() ->
         par(16, 200, fun(P, I) ->
                              {crypto:hash(sha256, <<P:32, I:32>>),
                               crypto:crypto_one_time(aes_128_ctr, key16(), <<P:64, I:64>>, <<"data">>, true)}
                      end)
     end},
     {concurrent_dirty, fun() ->
         par(4, 2, fun(P, I) -> crypto:hash(sha512, binary:copy(<<P, I>>, 4 * 1024 * 1024)) end)
     end}].
