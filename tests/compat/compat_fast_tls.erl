-module(compat_fast_tls).
-export([cases/0]).
-import(compat_util, [t/1, digest/1, par/3, pmap/2]).

start() -> ok = compat_util:start([fast_tls]).

have_openssl() -> os:find_executable("openssl") =/= false.

%% A self-signed certificate (cert + key in one PEM) in a fresh /tmp dir.
with_cert(F) ->
    D = compat_util:tmpdir("tls"),
    try
        Pem = filename:join(D, "cert.pem"),
        Key = filename:join(D, "key.pem"),
        Crt = filename:join(D, "crt.pem"),
        os:cmd("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost"
               " -keyout " ++ Key ++ " -out " ++ Crt ++ " 2>/dev/null"),
        {ok, K} = file:read_file(Key),
        {ok, C} = file:read_file(Crt),
        ok = file:write_file(Pem, [C, K]),
        F(Pem)
    after compat_util:rm_rf(D)
    end.

%% One TLS session over loopback TCP: the client sends Msgs, the server
%% echoes each one reversed; returns what the client saw.
session(Pem, Msgs, ClientOpts) ->
    {ok, L} = gen_tcp:listen(0, [binary, {active, false}, {reuseaddr, true}, {ip, {127, 0, 0, 1}}]),
    {ok, Port} = inet:port(L),
    Parent = self(),
    Srv = spawn_link(fun() ->
        {ok, S} = gen_tcp:accept(L, 10000),
        {ok, T} = fast_tls:tcp_to_tls(S, [{certfile, Pem}]),
        R = [begin
                 {ok, D} = fast_tls:recv(T, byte_size(M), 10000),
                 ok = fast_tls:send(T, reverse(D)),
                 D =:= M
             end || M <- Msgs],
        Parent ! {server, R, fast_tls:get_peer_certificate(T)},
        receive done -> fast_tls:close(T) after 10000 -> ok end
    end),
    {ok, S} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}], 10000),
    {ok, T} = fast_tls:tcp_to_tls(S, [connect | ClientOpts]),
    Echo = [begin
                ok = fast_tls:send(T, M),
                {ok, D} = fast_tls:recv(T, byte_size(M), 10000),
                D =:= reverse(M)
            end || M <- Msgs],
    SrvR = receive {server, SR, PC} -> {SR, PC} after 20000 -> server_timeout end,
    Cert = case fast_tls:get_peer_certificate(T) of
               {ok, _} -> got_cert;
               E -> E
           end,
    Verify = fast_tls:get_verify_result(T),
    Cipher = case fast_tls:get_negotiated_cipher(T) of
                 {ok, C} when is_binary(C) -> cipher_named;
                 Other -> Other
             end,
    Fin = fast_tls:get_tls_last_message(self, T),
    Srv ! done,
    fast_tls:close(T),
    gen_tcp:close(L),
    {lists:usort(Echo), SrvR, Cert, Verify, Cipher, element(1, Fin)}.

reverse(B) -> list_to_binary(lists:reverse(binary_to_list(B))).

cases() ->
    Base =
    [{sha_known, fun() -> [p1_sha:sha(<<"abc">>), p1_sha:sha1(<<"abc">>), p1_sha:sha224(<<"abc">>),
                           p1_sha:sha256(<<"abc">>), p1_sha:sha384(<<"">>), p1_sha:sha512(<<"abc">>),
                           p1_sha:to_hexlist(<<0, 1, 255>>)] end},
     {sha_badarg, fun() -> [t(fun() -> p1_sha:sha256(X) end) || X <- [42, atom, {1}]] end},
     {sha_big, fun() -> B = compat_util:big_binary(16 * 1024 * 1024), {p1_sha:sha(B), p1_sha:sha512(B)} end},
     {sha_bulk_50k, fun() -> digest([p1_sha:sha1(<<I:32>>) || I <- lists:seq(1, 50000)]) end},
     {sha_concurrent_16x200, fun() -> par(16, 200, fun(P, I) -> p1_sha:sha256(<<P:32, I:32>>) end) end},
     {start, fun() -> compat_util:start([fast_tls]) end},
     {fips_mode, fun() -> start(), fast_tls:get_fips_mode() end},
     {certfile_registry, fun() ->
         start(),
         {fast_tls:get_certfile(<<"nohost.example">>),
          fast_tls:delete_certfile(<<"nohost.example">>),
          fast_tls:clear_cache()}
     end},
     {add_certfile_missing, fun() -> start(), t(fun() -> fast_tls:add_certfile(<<"h.example">>, <<"/nonexistent/cert.pem">>) end) end},
     {tcp_to_tls_no_cert, fun() ->
         start(),
         {ok, L} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}]),
         {ok, P} = inet:port(L),
         {ok, S} = gen_tcp:connect({127, 0, 0, 1}, P, [binary, {active, false}]),
         R = fast_tls:tcp_to_tls(S, []),
         R2 = t(fun() -> fast_tls:tcp_to_tls(S, [{certfile, "/nonexistent/cert.pem"}]) end),
         gen_tcp:close(S), gen_tcp:close(L),
         {R, R2}
     end},
     {client_ctx_bulk_2k, fun() ->
         %% client TLS contexts created (connect, no I/O) and dropped
         start(),
         {ok, L} = gen_tcp:listen(0, [binary, {active, false}, {ip, {127, 0, 0, 1}}]),
         {ok, P} = inet:port(L),
         {ok, S} = gen_tcp:connect({127, 0, 0, 1}, P, [binary, {active, false}]),
         R = lists:usort([element(1, fast_tls:tcp_to_tls(S, [connect, verify_none]))
                          || _ <- lists:seq(1, 2000)]),
         erlang:garbage_collect(),
         gen_tcp:close(S), gen_tcp:close(L),
         R
     end}],
    Cert = case have_openssl() of
        false -> [];
        true ->
            [{tls_session, fun() -> start(), with_cert(fun(Pem) -> session(Pem, [<<"hello">>, <<"world!">>], [verify_none]) end) end},
             {tls_big_transfer, fun() ->
                 start(),
                 with_cert(fun(Pem) ->
                     session(Pem, [compat_util:big_binary(2 * 1024 * 1024), <<"end">>], [verify_none])
                 end)
             end},
             {tls_server_with_certfile_registry, fun() ->
                 start(),
                 with_cert(fun(Pem) ->
                     R1 = fast_tls:add_certfile(<<"localhost">>, Pem),
                     R2 = fast_tls:get_certfile(<<"localhost">>) =:= {ok, list_to_binary(Pem)},
                     R3 = fast_tls:delete_certfile(<<"localhost">>),
                     {R1, R2, R3}
                 end)
             end},
             {tls_concurrent_sessions, fun() ->
                 start(),
                 with_cert(fun(Pem) ->
                     pmap(6, fun(I) -> session(Pem, [<<I:32>>, binary:copy(<<I>>, 10000)], [verify_none]) end)
                 end)
             end}]
    end,
    Base ++ Cert.
